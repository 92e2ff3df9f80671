import { closeSync, lstatSync, openSync, readlinkSync, readSync } from "node:fs";
import { dirname, join } from "node:path";
import { linkStaysInside } from "./links.ts";
import { BLOCK, encodeHeader, paddingAfter, type TarEntry } from "./tar-header.ts";
import { FrameCompressor } from "./zstd-frames.ts";

/** Tar bytes per zstd frame: large enough that per-call costs vanish, small enough for flat memory. */
const CHUNK = 1024 * 1024;
const END_OF_ARCHIVE = new Uint8Array(2 * BLOCK);

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
 * Fills CHUNK-sized buffers with tar and hands each full one to the compressor. Files are
 * read straight into the buffer, at most CHUNK bytes per call, so the event loop is never
 * held for long and nothing is copied twice.
 */
class TarWriter {
  private chunk: Uint8Array;
  private used = 0;

  constructor(private readonly compressor: FrameCompressor) {
    this.chunk = compressor.buffer();
  }

  /** Space left in the current chunk; a full one is compressed first, which may finish a frame. */
  private async room(): Promise<Uint8Array | null> {
    if (this.used < CHUNK) return null;
    const frame = await this.compressor.push(this.chunk, this.used);
    this.chunk = this.compressor.buffer();
    this.used = 0;
    return frame;
  }

  async *bytes(data: Uint8Array): AsyncGenerator<Uint8Array> {
    for (let at = 0; at < data.length; ) {
      const frame = await this.room();
      if (frame) yield frame;
      const n = Math.min(data.length - at, CHUNK - this.used);
      this.chunk.set(data.subarray(at, at + n), this.used);
      this.used += n;
      at += n;
    }
  }

  /** Exactly `size` bytes of the file, even if it is still growing (a log), then the padding. */
  async *file(path: string, name: string, size: number): AsyncGenerator<Uint8Array> {
    const fd = openSync(path, "r");
    try {
      for (let left = size; left > 0; ) {
        const frame = await this.room();
        if (frame) yield frame;
        const n = readSync(fd, this.chunk, this.used, Math.min(CHUNK - this.used, left), size - left);
        if (n === 0) throw new Error(`${name} shrank while it was being archived`);
        this.used += n;
        left -= n;
      }
    } finally {
      closeSync(fd);
    }
    yield* this.bytes(END_OF_ARCHIVE.subarray(0, paddingAfter(size)));
  }

  /** The end-of-archive blocks, then every frame still compressing. */
  async *end(): AsyncGenerator<Uint8Array> {
    yield* this.bytes(END_OF_ARCHIVE);
    if (this.used) {
      const frame = await this.compressor.push(this.chunk, this.used);
      if (frame) yield frame;
    }
    for (let frame = await this.compressor.next(); frame; frame = await this.compressor.next()) yield frame;
  }
}

async function* frames(root: string, paths: string[], stats: PackStats): AsyncGenerator<Uint8Array> {
  const tar = new TarWriter(new FrameCompressor(CHUNK));
  for (const name of paths) {
    const full = join(root, name);
    const st = lstatSync(full);
    const entry: TarEntry = { name, type: "file", size: 0, mode: st.mode & 0o7777, mtime: st.mtimeMs / 1000, linkname: "" };
    if (st.isDirectory()) {
      yield* tar.bytes(encodeHeader({ ...entry, name: `${name}/`, type: "directory" }));
    } else if (st.isSymbolicLink()) {
      const linkname = readlinkSync(full);
      if (!linkStaysInside(dirname(name), linkname)) {
        stats.skipped.push(`${name} (symlink to ${linkname}, outside the work dir)`);
        continue;
      }
      yield* tar.bytes(encodeHeader({ ...entry, type: "symlink", linkname }));
    } else if (st.isFile()) {
      yield* tar.bytes(encodeHeader({ ...entry, size: st.size }));
      yield* tar.file(full, name, st.size);
      stats.files++;
      stats.bytes += st.size;
    } else {
      stats.skipped.push(`${name} (not a file, directory or symlink)`);
    }
  }
  yield* tar.end();
}

/**
 * Streams a zstd-compressed tar of `paths` (relative to `root`, as given by expandGlobs),
 * packing only as fast as the body is read, so memory stays flat whatever the sizes.
 * A read error fails the body, so an upload of it breaks.
 */
export function packArchive(root: string, paths: string[]): Packed {
  const counts: PackStats = { files: 0, bytes: 0, skipped: [] };
  const output = frames(root, paths, counts);
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
  return { body, stats, failure: () => failure, abort: stop };
}
