import { closeSync, lstatSync, openSync, readlinkSync, readSync, readvSync } from "node:fs";
import { dirname, join } from "node:path";
import { linkStaysInside } from "../../shared/archive-links.ts";
import type { Keeping } from "./keeping.ts";
import { putStored, storedViews } from "./stored-frames.ts";
import { TAR_BLOCK, tarHeader } from "./tar-header.ts";
import { FrameCompressor } from "./zstd-frames.ts";

/** Tar bytes per zstd frame (and per file read): per-call costs vanish, memory stays flat. */
const CHUNK = 1024 * 1024;

export interface PackStats {
  files: number;
  /** bytes of file content, before compression */
  bytes: number;
  /** entries left out, with why: extraction would refuse them */
  skipped: string[];
}

export interface Packed {
  body: ReadableStream<Uint8Array>;
  /** settles once every entry is packed (the body may still be draining) */
  stats: Promise<PackStats>;
  /** why packing failed, if it has: an upload of the body only sees a broken stream */
  failure(): Error | null;
  /** stops packing, e.g. because the upload of the body failed */
  abort(reason: Error): void;
}

/**
 * The tar being cut into CHUNK-sized chunks, each filled in place (plainly, or laid out as a stored
 * frame) and handed to the compressor once full: file content is read straight into a chunk, so a
 * byte of a file is copied once on its way to the socket, by the kernel's read.
 */
class TarChunks {
  private chunk!: Uint8Array;
  private stored!: boolean;
  private used = 0;

  constructor(private readonly compressor: FrameCompressor) {
    this.start();
  }

  private start(): void {
    this.chunk = this.compressor.buffer();
    this.stored = this.compressor.storing;
    this.used = 0;
  }

  /** Copies as much of `bytes` from `from` on as the chunk has room for; how much. */
  put(bytes: Uint8Array, from = 0): number {
    const n = Math.min(bytes.length - from, CHUNK - this.used);
    const piece = bytes.subarray(from, from + n);
    if (this.stored) putStored(this.chunk, this.used, piece);
    else this.chunk.set(piece, this.used);
    this.used += n;
    return n;
  }

  /** Reads up to `length` bytes of `fd` from `position` on into the chunk, as far as it has room; how many it read. */
  read(fd: number, length: number, position: number): number {
    const n = Math.min(length, CHUNK - this.used);
    const read = this.stored
      ? readvSync(fd, storedViews(this.chunk, this.used, n), position)
      : readSync(fd, this.chunk, this.used, n, position);
    this.used += read;
    return read;
  }

  /** A full chunk goes to the compressor and a new one starts; a finished frame, if one came back. */
  async passIfFull(): Promise<Uint8Array | null> {
    if (this.used < CHUNK) return null;
    const frame = await this.compressor.push(this.chunk, this.used, this.stored);
    this.start();
    return frame;
  }

  /** The last, partial chunk goes to the compressor; then every frame still running, in order. */
  async *end(): AsyncGenerator<Uint8Array> {
    if (this.used > 0) {
      const frame = await this.compressor.push(this.chunk, this.used, this.stored);
      if (frame) yield frame;
    }
    for (let frame = await this.compressor.next(); frame; frame = await this.compressor.next()) yield frame;
  }
}

const ZEROS = new Uint8Array(2 * TAR_BLOCK);

/** The frames of `bytes` put into the tar (a header, padding). */
async function* putAll(out: TarChunks, bytes: Uint8Array): AsyncGenerator<Uint8Array> {
  for (let at = 0; at < bytes.length; ) {
    at += out.put(bytes, at);
    const frame = await out.passIfFull();
    if (frame) yield frame;
  }
}

/** The frames of exactly `size` bytes of the file at `path`, even if it is still growing (a log), and its padding. */
async function* putFile(out: TarChunks, path: string, name: string, size: number): AsyncGenerator<Uint8Array> {
  const fd = openSync(path, "r");
  try {
    for (let done = 0; done < size; ) {
      const n = out.read(fd, size - done, done);
      if (n === 0) throw new Error(`${name} shrank while it was being archived`);
      done += n;
      const frame = await out.passIfFull();
      if (frame) yield frame;
    }
  } finally {
    closeSync(fd);
  }
  yield* putAll(out, ZEROS.subarray(0, (TAR_BLOCK - (size % TAR_BLOCK)) % TAR_BLOCK));
}

/** The archive's frames: each entry's header and content, then the two zero blocks that end a tar. */
async function* tarFrames(
  root: string,
  paths: string[],
  stats: PackStats,
  keep: Keeping | null,
  compressor: FrameCompressor,
): AsyncGenerator<Uint8Array> {
  const out = new TarChunks(compressor);
  for (const name of paths) {
    const full = join(root, name);
    const st = keep ? await keep.settled(full) : lstatSync(full, { bigint: true });
    const mode = Number(st.mode & 0o7777n);
    const header = { name, mode, mtime: st.mtime, size: 0 };
    if (st.isDirectory()) {
      keep?.other({ name, type: "directory", mode, size: 0, linkname: "" });
      yield* putAll(out, tarHeader({ ...header, type: "directory" }));
    } else if (st.isSymbolicLink()) {
      const linkname = readlinkSync(full);
      if (!linkStaysInside(dirname(name), linkname)) {
        stats.skipped.push(`${name} (symlink to ${linkname}, outside the work dir)`);
        continue;
      }
      keep?.other({ name, type: "symlink", mode, size: 0, linkname });
      yield* putAll(out, tarHeader({ ...header, type: "symlink", linkname }));
    } else if (st.isFile()) {
      const size = Number(st.size);
      keep?.file(name, mode, full, st);
      yield* putAll(out, tarHeader({ ...header, type: "file", size }));
      if (size > 0) yield* putFile(out, full, name, size);
      stats.files++;
      stats.bytes += size;
    } else {
      stats.skipped.push(`${name} (not a file, directory or symlink)`);
    }
  }
  yield* putAll(out, ZEROS);
  yield* out.end();
}

/**
 * Streams a zstd-compressed tar of `paths` (relative to `root`, as given by expandGlobs),
 * packing only as fast as the body is read, so memory stays flat whatever the sizes.
 * A read error fails the body, so an upload of it breaks. With `keep`, each file is also linked
 * there as it is packed (see kept.ts).
 */
export function packArchive(root: string, paths: string[], keep: Keeping | null = null): Packed {
  const counts: PackStats = { files: 0, bytes: 0, skipped: [] };
  const compressor = new FrameCompressor(CHUNK);
  const output = tarFrames(root, paths, counts, keep, compressor);
  let failure: Error | null = null;
  let settle: { ok(stats: PackStats): void; fail(e: Error): void } = { ok: () => {}, fail: () => {} };
  const stats = new Promise<PackStats>((ok, fail) => {
    settle = { ok, fail };
  });
  // Whoever aborts has the cause already: the promise must not also surface as unhandled.
  stats.catch(() => {});
  const stop = (reason: Error) => {
    failure ??= reason;
    settle.fail(reason);
    void output.return(undefined);
  };
  const body = new ReadableStream<Uint8Array>({
    async pull(controller) {
      try {
        const { value, done } = await output.next();
        if (done) {
          settle.ok(counts);
          controller.close();
        } else controller.enqueue(value);
      } catch (e) {
        stop(e as Error);
        controller.error(e);
      }
    },
    cancel(reason) {
      stop(reason instanceof Error ? reason : new Error("archive upload cancelled"));
    },
  });
  lenders.set(body, (frame) => compressor.giveBack(frame));
  return { body, stats, failure: () => failure, abort: stop };
}

const lenders = new WeakMap<ReadableStream<Uint8Array>, (chunk: Uint8Array) => void>();

/**
 * For a packed archive's body, what gives one of its chunks back once its bytes are sent (and will
 * not be read again), so that its buffer is reused; null for any other stream. A reader that keeps
 * chunks (an upload to the bucket, in parts) simply never gives them back.
 */
export function chunkReturn(body: ReadableStream<Uint8Array>): ((chunk: Uint8Array) => void) | null {
  return lenders.get(body) ?? null;
}
