import { Readable, type Transform } from "node:stream";
import { pipeline } from "node:stream/promises";
import { createZstdDecompress } from "node:zlib";
import { collectingEvery } from "../../shared/collect.ts";
import { SAMPLE_BYTES, sealStored, storedRoom, storedSample, unstore } from "./stored-frames.ts";

/**
 * Archives are zstd streams of independent frames, one per MiB of tar: each frame
 * is compressed or decompressed in one call on Bun's thread pool, two at a time, while
 * the main thread reads or writes files. A streaming (de)compressor in JavaScript does a
 * fraction of that (3.7 s against 0.35 s for 1 GiB here). Concatenated frames are one
 * valid zstd stream, so `zstd -d` and any other reader still read them.
 */

/** Speed over ratio: level 1 keeps up with the disk and still shrinks text. */
const LEVEL = 1;
/** A chunk that level 1 shrinks by less than this is no use compressing: the chunks after it are stored. */
const STORE_ABOVE = 0.97;
/** While storing, a chunk whose sample shrinks below this is compressed (and storing stops). */
const COMPRESS_BELOW = 0.9;
/** Frames decompressed at once; more only queue on two cores. */
const IN_FLIGHT = 2;
/** A frame declaring more content than this is decompressed by streaming, so memory stays bounded. */
const MAX_ONE_SHOT = 32 * 1024 * 1024;
const FRAME_MAGIC = 0xfd2fb528;
/**
 * Frames are fresh buffers, collected every so often so that an archive of any size adds a few tens of MiB
 * to the agent's RSS (a 300 MiB file: 45-49 MiB packing, 38-50 extracting). A full collection is not free:
 * packing collects every 64 MiB rather than 16, which took 12% off the agent's CPU per GiB saved; extracting,
 * whose garbage is the decompressed chunks, would grow to 46-56 MiB at 32 and stays at 16.
 */
const PACK_COLLECT_EVERY_BYTES = 64 * 1024 * 1024;
const EXTRACT_COLLECT_EVERY_BYTES = 16 * 1024 * 1024;

/**
 * Compresses chunks into frames, keeping their order and at most IN_FLIGHT compressions
 * running. Chunk buffers come from here and are reused once their frame is out: fresh
 * memory is slow to touch on a VM, and a GiB of it per archive would be garbage. Chunks
 * that compression does not shrink are stored instead (stored-frames.ts): once one does
 * not, the next are filled as stored frames, and go out as they are unless a sample of
 * one shrinks; a stored chunk is the frame, so it is not reused.
 */
export class FrameCompressor {
  private readonly free: Uint8Array[] = [];
  private readonly running: { chunk: Uint8Array | null; frame: Promise<Uint8Array> }[] = [];
  private readonly collect = collectingEvery(PACK_COLLECT_EVERY_BYTES);
  private readonly sample = new Uint8Array(SAMPLE_BYTES);
  /** whether the next chunk is to be filled as a stored frame (putStored) */
  storing = false;

  constructor(private readonly chunkSize: number) {}

  /** An empty buffer to fill with chunkSize bytes, plainly or as a stored frame. */
  buffer(): Uint8Array {
    return this.free.pop() ?? new Uint8Array(storedRoom(this.chunkSize));
  }

  /**
   * Starts compressing `chunk`'s first `length` bytes (put as a stored frame if `stored`); returns a
   * finished frame once too many run.
   */
  async push(chunk: Uint8Array, length: number, stored: boolean): Promise<Uint8Array | null> {
    if (stored && !(await this.pays(storedSample(chunk, length, this.sample)))) {
      this.running.push({ chunk: null, frame: Promise.resolve(sealStored(chunk, length)) });
    } else {
      this.storing = false;
      const frame = Bun.zstdCompress(stored ? unstore(chunk, length) : chunk.subarray(0, length), { level: LEVEL });
      this.running.push({ chunk, frame: frame.then((f) => this.judge(f, length)) });
    }
    return this.running.length > IN_FLIGHT ? this.next() : null;
  }

  /** Whether a sample of a chunk shrinks enough to compress the chunk. */
  private async pays(sample: Uint8Array): Promise<boolean> {
    return (await Bun.zstdCompress(sample, { level: LEVEL })).length < sample.length * COMPRESS_BELOW;
  }

  /** A compressed frame, after which storing starts if it hardly shrank. */
  private judge(frame: Uint8Array, length: number): Uint8Array {
    if (frame.length > length * STORE_ABOVE) this.storing = true;
    return frame;
  }

  /** The oldest frame, waiting for it; null when none is running. */
  async next(): Promise<Uint8Array | null> {
    const oldest = this.running.shift();
    if (!oldest) return null;
    const frame = await oldest.frame;
    if (oldest.chunk) this.free.push(oldest.chunk);
    this.collect(frame.length);
    return frame;
  }
}

const u32 = (b: Uint8Array, at: number) => (b[at]! | (b[at + 1]! << 8) | (b[at + 2]! << 16) | (b[at + 3]! << 24)) >>> 0;

/**
 * Where the zstd frame starting at `at` ends: a number once the buffer holds all of it,
 * "incomplete" before that, and "stream" for a frame to decompress by streaming (no
 * declared content size, or a large one, or not a plain frame at all).
 */
function frameEnd(b: Uint8Array, at: number): number | "incomplete" | "stream" {
  if (b.length - at < 18) return "incomplete"; // the largest frame header
  if (u32(b, at) !== FRAME_MAGIC) return "stream";
  const descriptor = b[at + 4]!;
  const sizeFlag = descriptor >> 6;
  const singleSegment = (descriptor >> 5) & 1;
  const hasChecksum = (descriptor >> 2) & 1;
  const dictBytes = [0, 1, 2, 4][descriptor & 3]!;
  const sizeBytes = [singleSegment, 2, 4, 8][sizeFlag]!;
  const sizeAt = at + 5 + (singleSegment ? 0 : 1) + dictBytes;
  let contentSize = 0;
  for (let i = sizeBytes - 1; i >= 0; i--) contentSize = contentSize * 256 + b[sizeAt + i]!;
  if (sizeBytes === 2) contentSize += 256;
  if (sizeBytes === 0 || contentSize > MAX_ONE_SHOT) return "stream";
  let p = sizeAt + sizeBytes;
  for (;;) {
    if (p + 3 > b.length) return "incomplete";
    const block = b[p]! | (b[p + 1]! << 8) | (b[p + 2]! << 16);
    const type = (block >> 1) & 3;
    if (type === 3) return "stream"; // reserved: let the decompressor report the corruption
    p += 3 + (type === 1 ? 1 : block >>> 3);
    if (block & 1) {
      const end = p + (hasChecksum ? 4 : 0);
      return end <= b.length ? end : "incomplete";
    }
  }
}

/** Decompresses a zstd stream into chunks of its content, frame by frame (see above). */
export async function* decompressFrames(head: Uint8Array, input: AsyncIterator<Uint8Array>): AsyncGenerator<Uint8Array> {
  const pending = new ByteQueue();
  pending.append(head);
  const running: Promise<Uint8Array>[] = [];
  const collect = collectingEvery(EXTRACT_COLLECT_EVERY_BYTES);
  for (;;) {
    const next = await input.next();
    if (!next.done) pending.append(next.value);
    for (let end = frameEnd(pending.bytes(), 0); ; end = frameEnd(pending.bytes(), 0)) {
      if (end === "incomplete") break;
      if (end === "stream") {
        for (const frame of running.splice(0)) yield await frame;
        yield* through(createZstdDecompress(), pending.bytes().slice(), input);
        return;
      }
      const frame = pending.take(end);
      running.push(Bun.zstdDecompress(frame).finally(() => pending.recycle(frame)));
      collect(end);
      if (running.length > IN_FLIGHT) yield await running.shift()!;
    }
    if (next.done) {
      for (const frame of running.splice(0)) yield await frame;
      // a few bytes too short for frameEnd to judge: the streaming decompressor will
      if (pending.bytes().length) yield* through(createZstdDecompress(), pending.bytes().slice(), input);
      return;
    }
  }
}

/**
 * A queue's buffer holds a whole frame (a MiB of content, a little more as stored blocks) and the start
 * of the next: at 1 MiB it had to grow, with a copy, for nearly every frame.
 */
const QUEUE_BYTES = 2 * 1024 * 1024;

/**
 * Bytes received and not yet taken, gathered in a buffer that a taken frame leaves with (no copy);
 * buffers come back once their frame is decompressed, so a whole archive needs only a few.
 */
class ByteQueue {
  private readonly spare: Uint8Array[] = [];
  private buffer = this.fresh(0);
  private length = 0;

  private fresh(atLeast: number): Uint8Array {
    const spare = this.spare.pop();
    return spare && spare.length >= atLeast ? spare : new Uint8Array(Math.max(atLeast, QUEUE_BYTES));
  }

  bytes(): Uint8Array {
    return this.buffer.subarray(0, this.length);
  }

  append(chunk: Uint8Array): void {
    if (this.length + chunk.length > this.buffer.length) {
      const grown = this.fresh(Math.max(this.buffer.length * 2, this.length + chunk.length));
      grown.set(this.bytes());
      this.buffer = grown;
    }
    this.buffer.set(chunk, this.length);
    this.length += chunk.length;
  }

  /** The first `n` bytes, in their own buffer until recycled; the rest moves to another. */
  take(n: number): Uint8Array {
    const taken = this.buffer.subarray(0, n);
    const rest = this.buffer.subarray(n, this.length);
    this.buffer = this.fresh(rest.length);
    this.buffer.set(rest);
    this.length = rest.length;
    return taken;
  }

  /** A taken frame's buffer is free again. */
  recycle(taken: Uint8Array): void {
    this.spare.push(new Uint8Array(taken.buffer));
  }
}

/** `head` and the rest of `input` through a streaming transform (a decompressor, which also reports truncation and corruption). */
export async function* through(
  transform: Transform,
  head: Uint8Array,
  input: AsyncIterator<Uint8Array>,
): AsyncGenerator<Uint8Array> {
  async function* source() {
    yield head;
    for (let next = await input.next(); !next.done; next = await input.next()) yield next.value;
  }
  // A failing source destroys the transform, which ends the loop below with the error.
  pipeline(Readable.from(source()), transform).catch(() => {});
  try {
    for await (const chunk of transform) yield chunk as Uint8Array;
  } finally {
    transform.destroy();
  }
}
