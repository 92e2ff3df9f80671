import { Readable, type Transform } from "node:stream";
import { pipeline } from "node:stream/promises";
import { collectingEvery } from "../../shared/collect.ts";
import { SAMPLE_BYTES, sealStored, storedRoom, storedSample, unstore } from "./stored-frames.ts";

/**
 * Archives are zstd streams of independent frames, one per MiB of tar: each frame
 * is compressed in one call on Bun's thread pool, two at a time, while the main thread
 * reads files (frame-reader.ts reads them back). A streaming (de)compressor in JavaScript
 * does a fraction of that (3.7 s against 0.35 s for 1 GiB here). Concatenated frames are
 * one valid zstd stream, so `zstd -d` and any other reader still read them.
 */

/** Speed over ratio: level 1 keeps up with the disk and still shrinks text. */
const LEVEL = 1;
/** A chunk that level 1 shrinks by less than this is no use compressing: the chunks after it are stored. */
const STORE_ABOVE = 0.97;
/** While storing, a chunk whose sample shrinks below this is compressed (and storing stops). */
const COMPRESS_BELOW = 0.9;
/** Frames compressed at once; more only queue on two cores. */
const IN_FLIGHT = 2;
/**
 * Frames are fresh buffers, collected every so often so that an archive of any size adds a few tens of MiB
 * to the agent's RSS (a 300 MiB file: 45-49 MiB packing). A full collection is not free: packing collects
 * every 64 MiB rather than 16, which took 12% off the agent's CPU per GiB saved.
 */
const PACK_COLLECT_EVERY_BYTES = 64 * 1024 * 1024;

/**
 * Compresses chunks into frames, keeping their order and at most IN_FLIGHT compressions
 * running. Chunk buffers come from here and are reused once their frame is out: fresh
 * memory is slow to touch on a VM, and a GiB of it per archive would be garbage. Chunks
 * that compression does not shrink are stored instead (stored-frames.ts): once one does
 * not, the next are filled as stored frames, and go out as they are unless a sample of
 * one shrinks; a stored chunk is the frame, reused once the reader gives it back.
 */
export class FrameCompressor {
  private readonly free: Uint8Array[] = [];
  private readonly running: { chunk: Uint8Array | null; frame: Promise<Uint8Array> }[] = [];
  private readonly collect = collectingEvery(PACK_COLLECT_EVERY_BYTES);
  private readonly sample = new Uint8Array(SAMPLE_BYTES);
  /** buffers of stored frames handed out, until given back (weakly: a reader may keep them, or drop them) */
  private readonly lent = new WeakSet<ArrayBufferLike>();
  /** whether the next chunk is to be filled as a stored frame (putStored) */
  storing = false;

  constructor(private readonly chunkSize: number) {}

  /** An empty buffer to fill with chunkSize bytes, plainly or as a stored frame. */
  buffer(): Uint8Array {
    const reused = this.free.pop();
    if (reused) return reused;
    this.collect(storedRoom(this.chunkSize));
    return new Uint8Array(storedRoom(this.chunkSize));
  }

  /**
   * Starts compressing `chunk`'s first `length` bytes (put as a stored frame if `stored`); returns a
   * finished frame once too many run.
   */
  async push(chunk: Uint8Array, length: number, stored: boolean): Promise<Uint8Array | null> {
    if (stored && !(await this.pays(storedSample(chunk, length, this.sample)))) {
      this.lent.add(chunk.buffer);
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

  /**
   * A frame whose bytes the reader is done with (sent to the socket): a stored frame's buffer is filled
   * again, where a fresh one would cost a page fault per 4 KiB. Any other frame is left to the collector.
   */
  giveBack(frame: Uint8Array): void {
    if (this.lent.delete(frame.buffer)) this.free.push(new Uint8Array(frame.buffer));
  }

  /** The oldest frame, waiting for it; null when none is running. */
  async next(): Promise<Uint8Array | null> {
    const oldest = this.running.shift();
    if (!oldest) return null;
    const frame = await oldest.frame;
    if (oldest.chunk) this.free.push(oldest.chunk);
    if (oldest.chunk) this.collect(frame.length);
    return frame;
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
