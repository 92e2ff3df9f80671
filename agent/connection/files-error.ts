/** How the archive API's requests fail: one error type, whether the coordinator or the bucket answered. */
export class FilesError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

/** Network failures and 5xx/429 answers are the infrastructure's, not the step's: worth a retry. */
export const isTransient = (e: unknown) => e instanceof FilesError && (e.status === 0 || e.status >= 500 || e.status === 429);

/** The coordinator's error body (`{ error: … }`), or undefined when the answer is not one (a proxy's page, Bun's own refusal). */
export function errorBody<T extends { message?: string }>(text: string): T | undefined {
  try {
    return (JSON.parse(text) as { error?: T }).error;
  } catch {
    return undefined;
  }
}

/** Runs one HTTP exchange: an answer but 2xx becomes a FilesError carrying the server's message, no answer a status 0. */
export async function checked(what: string, send: () => Promise<Response>, signal: AbortSignal | undefined): Promise<Response> {
  let res: Response;
  try {
    res = await send();
  } catch (e) {
    if (signal?.aborted) throw e;
    // no answer at all: status 0 marks a network failure
    throw new FilesError(0, "network", `${what} failed: ${(e as Error).message}`);
  }
  if (res.ok) return res;
  const text = await res.text();
  // The HTTP server refuses a body past the store's cap before any handler sees it, with no JSON.
  const fallback = res.status === 413 ? "larger than the coordinator's object size limit" : res.statusText;
  const error = errorBody<{ code: string; message: string }>(text) ?? { code: "http_error", message: text.slice(0, 500) || fallback };
  throw new FilesError(res.status, error.code, `${what} failed: ${error.message} (HTTP ${res.status})`);
}
