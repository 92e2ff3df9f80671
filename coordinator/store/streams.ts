import { collectingEvery } from "../../shared/collect.ts";
import { type ObjectBody, ObjectTooLargeError, type PutOptions, type PutResult } from "./object-store.ts";

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

/** Counts and hashes a body chunk by chunk, failing once it exceeds its limit; collects its garbage every 32 MiB. */
export class Meter {
  private readonly hash: Bun.CryptoHasher | null;
  private size = 0;
  private readonly collect = collectingEvery(32 * 1024 * 1024);

  constructor(
    private readonly key: string,
    private readonly maxBytes: number,
    hash = true,
  ) {
    this.hash = hash ? new Bun.CryptoHasher("sha256") : null;
  }

  add(chunk: Uint8Array): void {
    this.size += chunk.byteLength;
    if (this.size > this.maxBytes) throw new ObjectTooLargeError(this.key, this.maxBytes);
    this.hash?.update(chunk);
    this.collect(chunk.byteLength);
  }

  result(): PutResult {
    return { size: this.size, sha256: this.hash?.digest("hex") ?? "" };
  }
}

/**
 * A reader of the body that an abort stops: the pending read ends, and `read` then
 * throws the abort's reason instead of reporting an end (which would store a cut object).
 */
export function abortableReader(body: ObjectBody, signal: AbortSignal | undefined) {
  const reader = toStream(body).getReader();
  const onAbort = () => reader.cancel(signal?.reason).catch(() => {});
  signal?.addEventListener("abort", onAbort, { once: true });
  return {
    async read(): ReturnType<ReadableStreamDefaultReader<Uint8Array>["read"]> {
      const next = await reader.read();
      if (signal?.aborted) throw signal.reason;
      return next;
    },
    cancel: (reason: unknown) => reader.cancel(reason).catch(() => {}),
    release: () => signal?.removeEventListener("abort", onAbort),
  };
}

export interface Metered {
  /** The body, hashed and counted as it is read; errors once it exceeds the limit. */
  readonly stream: ReadableStream<Uint8Array>;
  /** The body's own error or the ObjectTooLargeError, once the stream has failed. */
  failure(): unknown;
  result(): PutResult;
}

export function metered(key: string, body: ObjectBody, maxBytes: number, opts: PutOptions = {}): Metered {
  const source = abortableReader(body, opts.signal);
  const meter = new Meter(key, maxBytes, opts.hash);
  let failure: unknown;
  // highWaterMark 0: read from the source only when the consumer asks, so at
  // most one chunk is held here whatever the producer's speed.
  const stream = new ReadableStream<Uint8Array>(
    {
      async pull(c) {
        try {
          const { done, value } = await source.read();
          if (done) {
            source.release();
            return c.close();
          }
          meter.add(value);
          c.enqueue(value);
        } catch (err) {
          failure = err;
          source.release();
          source.cancel(err);
          throw err;
        }
      },
      cancel: (reason) => source.cancel(reason),
    },
    { highWaterMark: 0 },
  );
  return { stream, failure: () => failure, result: () => meter.result() };
}
