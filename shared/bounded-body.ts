/**
 * A request's body, of which no more than `maxBytes` is read: past them, declared up front or as it comes
 * (chunked), `tooLarge()` is thrown and the rest is left unread (leaving the loop cancels the stream).
 */
export async function readBounded(req: Request, maxBytes: number, tooLarge: () => Error): Promise<Uint8Array> {
  if (Number(req.headers.get("content-length") ?? 0) > maxBytes) throw tooLarge();
  const pieces: Uint8Array[] = [];
  let size = 0;
  if (req.body) {
    for await (const piece of req.body) {
      size += piece.length;
      if (size > maxBytes) throw tooLarge();
      pieces.push(piece);
    }
  }
  return Buffer.concat(pieces);
}
