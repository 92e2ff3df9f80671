/** An API answer as the test helpers hand it back: the status, and the body parsed as JSON when it is JSON (logs are text). */
export async function readReply(res: Response): Promise<{ status: number; body: never }> {
  const text = await res.text();
  let parsed: unknown = text;
  try {
    parsed = JSON.parse(text);
  } catch {
    // plain text (logs)
  }
  return { status: res.status, body: parsed as never };
}
