import { closeSync, lstatSync, openSync, readlinkSync, readSync } from "node:fs";
import { dirname, join } from "node:path";
import tar, { type Header, type Pack } from "tar-stream";
import { linkStaysInside } from "../../shared/archive-links.ts";
import type { Keeping } from "./kept.ts";
import { putStored } from "./stored-frames.ts";
import { FrameCompressor } from "./zstd-frames.ts";

type EntryHeader = Partial<Header> & { name: string };

/** Tar bytes per zstd frame (and per file read): per-call costs vanish, memory stays flat. */
const CHUNK = 1024 * 1024;
const EMPTY = new Uint8Array(0);

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
 * File reads go into a few buffers used over and over: tar-stream hands each on untouched, and
 * once its bytes are copied into a frame's chunk it is free again. Fresh ones would make a GiB of
 * garbage per GiB archived, and touching new memory is slow on a VM.
 */
class ReadBuffers {
  private readonly free: Uint8Array[] = [];
  /** bytes of each buffer in use not yet copied out */
  private readonly pending = new Map<ArrayBufferLike, number>();

  /** A buffer to read into; `filled` says how much of it the archive stream will carry. */
  take(): Uint8Array {
    return this.free.pop() ?? new Uint8Array(CHUNK);
  }

  filled(buffer: Uint8Array, bytes: number): void {
    this.pending.set(buffer.buffer, bytes);
  }

  /** Any chunk the archive stream produced, once copied out; a buffer of ours is free when all it carried is. */
  copied(chunk: Uint8Array): void {
    const left = this.pending.get(chunk.buffer);
    if (left === undefined) return;
    if (left > chunk.length) return void this.pending.set(chunk.buffer, left - chunk.length);
    this.pending.delete(chunk.buffer);
    this.free.push(new Uint8Array(chunk.buffer));
  }
}

/** An entry without content (a directory, a symlink, an empty file). */
function addEntry(pack: Pack, header: EntryHeader): Promise<void> {
  return new Promise((done, fail) => pack.entry(header, EMPTY, (err) => (err ? fail(err) : done())));
}

/**
 * Exactly `size` bytes of the file, even if it is still growing (a log), read a CHUNK at a time
 * into the entry and no faster than the archive is read (the entry's backpressure).
 */
function addFile(pack: Pack, header: EntryHeader, path: string, name: string, size: number, reads: ReadBuffers): Promise<void> {
  return new Promise((done, fail) => {
    const sink = pack.entry({ ...header, type: "file", size }, (err) => (err ? fail(err) : done()));
    const fd = openSync(path, "r");
    let left = size;
    const pump = () => {
      try {
        while (left > 0) {
          const chunk = reads.take();
          const n = readSync(fd, chunk, 0, Math.min(CHUNK, left), size - left);
          if (n === 0) throw new Error(`${name} shrank while it was being archived`);
          reads.filled(chunk, n);
          left -= n;
          if (!sink.write(chunk.subarray(0, n))) return void sink.once("drain", pump);
        }
        closeSync(fd);
        sink.end(undefined);
      } catch (e) {
        closeSync(fd);
        sink.destroy(e as Error);
        fail(e);
      }
    };
    pump();
  });
}

async function fill(
  pack: Pack,
  root: string,
  paths: string[],
  stats: PackStats,
  reads: ReadBuffers,
  keep: Keeping | null,
): Promise<void> {
  for (const name of paths) {
    const full = join(root, name);
    const st = keep ? await keep.settled(full) : lstatSync(full, { bigint: true });
    const mode = Number(st.mode & 0o7777n);
    const header = { name, mode, mtime: st.mtime };
    if (st.isDirectory()) {
      keep?.other({ name, type: "directory", mode, size: 0, linkname: "" });
      await addEntry(pack, { ...header, type: "directory" });
    } else if (st.isSymbolicLink()) {
      const linkname = readlinkSync(full);
      if (!linkStaysInside(dirname(name), linkname)) {
        stats.skipped.push(`${name} (symlink to ${linkname}, outside the work dir)`);
        continue;
      }
      keep?.other({ name, type: "symlink", mode, size: 0, linkname });
      await addEntry(pack, { ...header, type: "symlink", linkname });
    } else if (st.isFile()) {
      const size = Number(st.size);
      keep?.file(name, mode, full, st);
      if (size === 0) await addEntry(pack, { ...header, type: "file", size: 0 });
      else await addFile(pack, header, full, name, size, reads);
      stats.files++;
      stats.bytes += size;
    } else {
      stats.skipped.push(`${name} (not a file, directory or symlink)`);
    }
  }
  pack.finalize();
}

/**
 * The tar (tar-stream) cut into CHUNK-sized pieces, each compressed as one zstd frame on the thread
 * pool while the next is filled; the pieces are reused buffers, so a GiB of tar makes no GiB of garbage.
 */
async function* frames(
  root: string,
  paths: string[],
  stats: PackStats,
  keep: Keeping | null,
  compressor: FrameCompressor,
): AsyncGenerator<Uint8Array> {
  const pack = tar.pack();
  const reads = new ReadBuffers();
  fill(pack, root, paths, stats, reads, keep).catch((e: Error) => pack.destroy(e));
  let chunk = compressor.buffer();
  let stored = compressor.storing;
  let used = 0;
  try {
    for await (const data of pack as AsyncIterable<Uint8Array>) {
      for (let at = 0; at < data.length; ) {
        const n = Math.min(data.length - at, CHUNK - used);
        if (stored) putStored(chunk, used, data.subarray(at, at + n));
        else chunk.set(data.subarray(at, at + n), used);
        used += n;
        at += n;
        if (at === data.length) reads.copied(data);
        if (used < CHUNK) continue;
        const frame = await compressor.push(chunk, used, stored);
        if (frame) yield frame;
        chunk = compressor.buffer();
        stored = compressor.storing;
        used = 0;
      }
    }
    if (used) {
      const frame = await compressor.push(chunk, used, stored);
      if (frame) yield frame;
    }
    for (let frame = await compressor.next(); frame; frame = await compressor.next()) yield frame;
  } finally {
    // stopped early (an abort, a failed upload): the files being read are closed
    pack.destroy(new Error("archive no longer wanted"));
  }
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
  const output = frames(root, paths, counts, keep, compressor);
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
