import { type ObjectBody, ObjectTooLargeError, type PutResult } from "./object-store.ts";

/** Bodies of known size are only capped when the caller asks; streams get the store's default cap. */
export function limitFor(body: ObjectBody, maxBytes: number | undefined, maxUnknown: number): number {
  return maxBytes ?? (body instanceof ReadableStream ? maxUnknown : Number.POSITIVE_INFINITY);
}

export function emptyStream(): ReadableStream<Uint8Array> {
  return new ReadableStream({ start: (c) => c.close() });
}

function toStream(body: ObjectBody): ReadableStream<Uint8Array> {
  if (body instanceof ReadableStream) return body;
  const bytes = typeof body === "string" ? new TextEncoder().encode(body) : body;
  return new ReadableStream({
    start(c) {
      c.enqueue(bytes);
      c.close();
    },
  });
}

export interface Metered {
  /** The body, hashed and counted as it is read; errors once it exceeds the limit. */
  readonly stream: ReadableStream<Uint8Array>;
  /** The body's own error or the ObjectTooLargeError, once the stream has failed. */
  failure(): unknown;
  result(): PutResult;
}

export function metered(key: string, body: ObjectBody, maxBytes: number): Metered {
  const source = toStream(body).getReader();
  const hash = new Bun.CryptoHasher("sha256");
  let size = 0;
  let failure: unknown;
  // highWaterMark 0: read from the source only when the consumer asks, so at
  // most one chunk is held here whatever the producer's speed.
  const stream = new ReadableStream<Uint8Array>(
    {
      async pull(c) {
        try {
          const { done, value } = await source.read();
          if (done) return c.close();
          size += value.byteLength;
          if (size > maxBytes) throw new ObjectTooLargeError(key, maxBytes);
          hash.update(value);
          c.enqueue(value);
        } catch (err) {
          failure = err;
          source.cancel(err).catch(() => {});
          throw err;
        }
      },
      cancel: (reason) => source.cancel(reason),
    },
    { highWaterMark: 0 },
  );
  return { stream, failure: () => failure, result: () => ({ size, sha256: hash.digest("hex") }) };
}
