import { createZstdDecompress } from "node:zlib";
import { collectingEvery } from "../../shared/collect.ts";
import { BLOCK_HEADER_BYTES, FRAME_MAGIC } from "./stored-frames.ts";
import { through } from "./zstd-frames.ts";

/**
 * Reads a zstd stream of independent frames (zstd-frames.ts) as it arrives. Most of a workspace's bytes
 * come in stored frames, whose raw blocks are the content itself: those are handed on as views of the
 * pieces the network gave, never copied or decompressed (a queue copy and a copy into a fresh buffer per
 * MiB before). A frame with a compressed block is decompressed whole, in one call on the thread pool, a
 * few at a time while the next are read.
 */

/** The largest frame header: magic, descriptor, window, a 4-byte dictionary id, an 8-byte content size. */
const MAX_FRAME_HEADER = 18;
const CHECKSUM = 4;
/** A frame declaring more content than this is decompressed by streaming, so memory stays bounded. */
const MAX_ONE_SHOT = 32 * 1024 * 1024;
/** Frames decompressed at once; more only queue on two cores. */
const IN_FLIGHT = 2;
/** Content read ahead of a frame still being decompressed, at most. */
const MAX_AHEAD = 4 * 1024 * 1024;
/**
 * The network's pieces are fresh buffers, collected every so often so that an archive of any size adds a few
 * tens of MiB to the agent's RSS (a 300 MiB file: 28-35 MiB extracting at 64 MiB, as pieces are no longer copied
 * into a queue); a full collection every 16 MiB was a fifth of the extracting process's samples.
 */
const COLLECT_EVERY_BYTES = 64 * 1024 * 1024;

const u32 = (b: Uint8Array, at: number) => (b[at]! | (b[at + 1]! << 8) | (b[at + 2]! << 16) | (b[at + 3]! << 24)) >>> 0;

/** A frame's header: how long it is and how much content it declares (null: none, or too much for one call). */
function frameHeader(b: Uint8Array): { length: number; content: number | null; checksum: boolean } {
  const descriptor = b[4]!;
  const singleSegment = (descriptor >> 5) & 1;
  const dictBytes = [0, 1, 2, 4][descriptor & 3]!;
  const sizeBytes = [singleSegment, 2, 4, 8][descriptor >> 6]!;
  const sizeAt = 5 + (singleSegment ? 0 : 1) + dictBytes;
  let content = 0;
  for (let i = sizeBytes - 1; i >= 0; i--) content = content * 256 + b[sizeAt + i]!;
  if (sizeBytes === 2) content += 256;
  const known = sizeBytes > 0 && content <= MAX_ONE_SHOT;
  return { length: sizeAt + sizeBytes, content: known ? content : null, checksum: ((descriptor >> 2) & 1) === 1 };
}

/** A piece of content, or one on its way from the thread pool. */
type Piece = Uint8Array | Promise<Uint8Array>;

/** The frame being read: every byte of it so far (views), and what of its content went out as it came. */
interface Frame {
  parts: Uint8Array[];
  content: number;
  checksum: boolean;
  /** content bytes handed on from raw blocks */
  given: number;
  /** a compressed block came (or a checksum is to be checked): the frame is decompressed whole at its end */
  whole: boolean;
}

class FrameParser {
  /** bytes received and not parsed yet, in order */
  private readonly pending: Uint8Array[] = [];
  private pendingBytes = 0;
  private readonly head = new Uint8Array(MAX_FRAME_HEADER);
  private frame: Frame | null = null;
  private step: "block" | "raw" | "rle" | "compressed" | "checksum" = "block";
  /** bytes left of the current block (or checksum) */
  private left = 0;
  /** the block's content size (RLE) */
  private size = 0;
  private last = false;

  constructor(private readonly out: (piece: Piece) => void) {}

  push(chunk: Uint8Array): void {
    if (chunk.length === 0) return;
    this.pending.push(chunk);
    this.pendingBytes += chunk.length;
  }

  /** Whether the stream ended where a frame does. */
  get atFrameEnd(): boolean {
    return this.frame === null && this.pendingBytes === 0;
  }

  /** The bytes from the current frame's start on, for a streaming decompressor to take over. */
  rest(): Uint8Array {
    return Buffer.concat([...(this.frame?.parts ?? []), ...this.pending]);
  }

  /** Parses all it can; "stream" when the rest is for a streaming decompressor (a frame this does not read). */
  parse(): "more" | "stream" {
    for (;;) {
      if (!this.frame) {
        const n = this.peek(MAX_FRAME_HEADER);
        if (n >= 4 && u32(this.head, 0) !== FRAME_MAGIC) return "stream";
        if (n < 5) return "more";
        const header = frameHeader(this.head);
        if (header.content === null) return "stream";
        if (n < header.length) return "more";
        this.frame = { parts: [], content: header.content, checksum: header.checksum, given: 0, whole: header.checksum };
        this.take(header.length);
        this.step = "block";
        continue;
      }
      if (this.step === "block") {
        if (this.peek(BLOCK_HEADER_BYTES) < BLOCK_HEADER_BYTES) return "more";
        this.take(BLOCK_HEADER_BYTES);
        const block = this.head[0]! | (this.head[1]! << 8) | (this.head[2]! << 16);
        const type = (block >> 1) & 3;
        // reserved: the decompressor reports the corruption
        if (type === 3) return "stream";
        this.last = (block & 1) === 1;
        this.size = block >>> 3;
        this.left = type === 1 ? 1 : this.size;
        this.step = (["raw", "rle", "compressed"] as const)[type]!;
        if (type === 2) this.frame.whole = true;
      }
      if (this.step === "rle") {
        if (this.peek(1) < 1) return "more";
        this.take(1);
        this.give(new Uint8Array(this.size).fill(this.head[0]!));
        this.left = 0;
      } else {
        this.left -= this.take(this.left, this.step === "raw");
        if (this.left > 0) return "more";
      }
      this.endBlock();
    }
  }

  private endBlock(): void {
    if (this.step === "checksum" || (this.last && !this.frame!.checksum)) this.endFrame();
    else if (this.last) {
      this.step = "checksum";
      this.left = CHECKSUM;
    } else this.step = "block";
  }

  private endFrame(): void {
    const frame = this.frame!;
    this.frame = null;
    if (frame.whole) {
      const bytes = frame.parts.length === 1 ? frame.parts[0]! : Buffer.concat(frame.parts);
      const given = frame.given;
      this.out(Bun.zstdDecompress(bytes).then((content) => (given ? content.subarray(given) : content)));
    } else if (frame.given !== frame.content) {
      throw new Error(`a zstd frame declares ${frame.content} bytes and holds ${frame.given}`);
    }
  }

  /** Content of a raw or RLE block: handed on now, unless the frame is to be decompressed whole. */
  private give(piece: Uint8Array): void {
    const frame = this.frame!;
    if (frame.whole) return;
    frame.given += piece.length;
    if (frame.given > frame.content) throw new Error(`a zstd frame holds more than the ${frame.content} bytes it declares`);
    this.out(piece);
  }

  /** Copies up to `n` of the next bytes into `head` without taking them; how many it copied. */
  private peek(n: number): number {
    let copied = 0;
    for (const chunk of this.pending) {
      const m = Math.min(n - copied, chunk.length);
      this.head.set(m === chunk.length ? chunk : chunk.subarray(0, m), copied);
      copied += m;
      if (copied === n) break;
    }
    return copied;
  }

  /** Takes up to `n` bytes into the frame's parts (and hands them on as content if `content`); how many. */
  private take(n: number, content = false): number {
    let taken = 0;
    while (taken < n && this.pending.length > 0) {
      const chunk = this.pending[0]!;
      const m = Math.min(n - taken, chunk.length);
      const piece = m === chunk.length ? chunk : chunk.subarray(0, m);
      if (m === chunk.length) this.pending.shift();
      else this.pending[0] = chunk.subarray(m);
      this.frame!.parts.push(piece);
      if (content) this.give(piece);
      taken += m;
    }
    this.pendingBytes -= taken;
    return taken;
  }
}

/** The content of a zstd stream (see above), in order; `head` is its first piece. */
export async function* decompressFrames(head: Uint8Array, input: AsyncIterator<Uint8Array>): AsyncGenerator<Uint8Array> {
  const ready: Piece[] = [];
  let running = 0;
  let ahead = 0;
  const parser = new FrameParser((piece) => {
    ready.push(piece);
    if (piece instanceof Promise) running++;
    else ahead += piece.length;
  });
  const collect = collectingEvery(COLLECT_EVERY_BYTES);
  parser.push(head);
  collect(head.length);
  for (let done = false; ; ) {
    if (parser.parse() === "stream") {
      yield* drain(ready);
      yield* through(createZstdDecompress(), parser.rest(), input);
      return;
    }
    // hand on what is ready; wait for a frame on the thread pool only when enough is read past it
    while (ready.length > 0) {
      const first = ready[0]!;
      if (first instanceof Promise && !done && running < IN_FLIGHT && ahead < MAX_AHEAD) break;
      ready.shift();
      if (first instanceof Promise) running--;
      else ahead -= first.length;
      yield await first;
    }
    if (done) break;
    const next = await input.next();
    if (next.done) done = true;
    else {
      parser.push(next.value);
      collect(next.value.length);
    }
  }
  if (!parser.atFrameEnd) throw new Error("the archive is cut short: it ends inside a zstd frame");
}

async function* drain(pieces: Piece[]): AsyncGenerator<Uint8Array> {
  for (const piece of pieces.splice(0)) yield await piece;
}
