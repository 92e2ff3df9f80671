/** Deterministic pseudo-random bytes, so content (not just length) is checked. */
export function pattern(size: number, seed: number): Uint8Array {
  const words = new Uint32Array(Math.ceil(size / 4));
  let x = Math.imul(seed, 2654435761) ^ 0x9e3779b9 || 1;
  for (let i = 0; i < words.length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    words[i] = x >>> 0;
  }
  return new Uint8Array(words.buffer, 0, size);
}

export function sha256Hex(bytes: Uint8Array | string): string {
  return new Bun.CryptoHasher("sha256").update(bytes).digest("hex");
}

export interface Generated {
  stream: ReadableStream<Uint8Array>;
  /** Hash of everything enqueued so far. */
  sha256(): string;
}

/**
 * A body of unknown length, made chunk by chunk on demand (a fresh buffer
 * each time, like a network source); errors with `failWith` after `total`
 * bytes instead of ending when given.
 */
export function generated(total: number, chunkSize: number, failWith?: Error): Generated {
  const hash = new Bun.CryptoHasher("sha256");
  // Chunks are shifted copies of one block: distinct content at memcpy speed.
  const block = pattern(chunkSize + 4096, chunkSize);
  let sent = 0;
  let index = 0;
  const stream = new ReadableStream<Uint8Array>(
    {
      pull(c) {
        if (sent >= total) return failWith ? c.error(failWith) : c.close();
        const shift = (index++ * 61) % 4096;
        const chunk = block.slice(shift, shift + Math.min(chunkSize, total - sent));
        sent += chunk.byteLength;
        hash.update(chunk);
        c.enqueue(chunk);
      },
    },
    { highWaterMark: 0 },
  );
  return { stream, sha256: () => hash.copy().digest("hex") };
}

export async function readAll(stream: ReadableStream<Uint8Array> | null): Promise<Uint8Array> {
  if (!stream) throw new Error("expected an object, got null");
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

export async function hashStream(stream: ReadableStream<Uint8Array> | null): Promise<{ size: number; sha256: string }> {
  if (!stream) throw new Error("expected an object, got null");
  const hash = new Bun.CryptoHasher("sha256");
  let size = 0;
  for await (const chunk of stream) {
    hash.update(chunk);
    size += chunk.byteLength;
  }
  return { size, sha256: hash.digest("hex") };
}

export async function collect<T>(items: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of items) out.push(item);
  return out;
}

export interface ThroughputSample {
  mbPerS: number;
  rssGrowthMiB: number;
}

/**
 * Runs `work` while sampling RSS; growth is peak minus the level before it
 * started. `collectEachSample` runs a full GC before each (less frequent)
 * sample so that the figure is the live set rather than garbage awaiting
 * collection.
 */
export async function measure(
  bytes: number,
  work: () => Promise<unknown>,
  collectEachSample = false,
): Promise<ThroughputSample> {
  Bun.gc(true);
  const before = process.memoryUsage.rss();
  let peak = before;
  const timer = setInterval(() => {
    if (collectEachSample) Bun.gc(true);
    peak = Math.max(peak, process.memoryUsage.rss());
  }, collectEachSample ? 20 : 5);
  const t0 = performance.now();
  try {
    await work();
  } finally {
    clearInterval(timer);
  }
  const seconds = (performance.now() - t0) / 1000;
  peak = Math.max(peak, process.memoryUsage.rss());
  return { mbPerS: bytes / 1e6 / seconds, rssGrowthMiB: (peak - before) / 2 ** 20 };
}
