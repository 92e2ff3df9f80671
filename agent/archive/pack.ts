import { createReadStream, lstatSync, readlinkSync } from "node:fs";
import { dirname, join } from "node:path";
import { pipeline } from "node:stream/promises";
import { constants, createZstdCompress } from "node:zlib";
import tar, { type Header, type Pack } from "tar-stream";
import { linkStaysInside } from "./links.ts";

/** Speed over ratio: zstd at level 1 keeps up with the disk (gzip, even at level 1, does not) and still compresses. */
const ZSTD_LEVEL = 1;
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

/** An entry without streamed content (a directory, a symlink, an empty file). */
function addEntry(pack: Pack, header: Partial<Header> & { name: string }): Promise<void> {
  return new Promise((done, fail) => pack.entry(header, EMPTY, (err) => (err ? fail(err) : done())));
}

async function fill(pack: Pack, root: string, paths: string[]): Promise<PackStats> {
  const stats: PackStats = { files: 0, bytes: 0, skipped: [] };
  for (const name of paths) {
    const full = join(root, name);
    const st = lstatSync(full);
    const header = { name, mode: st.mode & 0o7777, mtime: st.mtime };
    if (st.isDirectory()) {
      await addEntry(pack, { ...header, type: "directory" });
    } else if (st.isSymbolicLink()) {
      const linkname = readlinkSync(full);
      if (!linkStaysInside(dirname(name), linkname)) {
        stats.skipped.push(`${name} (symlink to ${linkname}, outside the work dir)`);
        continue;
      }
      await addEntry(pack, { ...header, type: "symlink", linkname });
    } else if (st.isFile() && st.size === 0) {
      await addEntry(pack, { ...header, type: "file", size: 0 });
      stats.files++;
    } else if (st.isFile()) {
      await new Promise<void>((ok, fail) => {
        const sink = pack.entry({ ...header, type: "file", size: st.size }, (err) => (err ? fail(err) : ok()));
        // Exactly the size announced in the header, so a file still growing (a log) does not break the tar.
        pipeline(createReadStream(full, { end: st.size - 1 }), sink).catch(fail);
      });
      stats.files++;
      stats.bytes += st.size;
    } else {
      stats.skipped.push(`${name} (not a file, directory or symlink)`);
    }
  }
  pack.finalize();
  return stats;
}

/**
 * Streams a zstd-compressed tar of `paths` (relative to `root`, as given by expandGlobs):
 * files are read as streams and tar-stream waits for the reader, so memory stays
 * flat whatever the sizes. A read error fails the body, so an upload of it breaks.
 */
export function packArchive(root: string, paths: string[]): Packed {
  const pack = tar.pack();
  const compressed = createZstdCompress({ params: { [constants.ZSTD_c_compressionLevel]: ZSTD_LEVEL } });
  pipeline(pack, compressed).catch(() => {
    // surfaces through the body, which the compressed stream errors
  });
  let failure: Error | null = null;
  const stats = fill(pack, root, paths);
  stats.catch((err: Error) => {
    failure = err;
    pack.destroy(err);
  });
  const chunks = compressed[Symbol.asyncIterator]();
  const body = new ReadableStream<Uint8Array>({
    async pull(controller) {
      const { value, done } = await chunks.next();
      if (done) controller.close();
      else controller.enqueue(new Uint8Array(value.buffer, value.byteOffset, value.byteLength));
    },
    cancel(reason) {
      pack.destroy(reason instanceof Error ? reason : new Error("archive upload cancelled"));
    },
  });
  return { body, stats, failure: () => failure, abort: (reason) => pack.destroy(reason) };
}
