import { createReadStream } from "node:fs";
import { join } from "node:path";
import type { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { createGzip } from "node:zlib";
import tar from "tar-stream";
import type { WorkspaceFile } from "./workspace-files.ts";

const EMPTY = new Uint8Array(0);

/**
 * Streams `files` (from `workspaceFiles`) as a tar.gz, reading each file only when the
 * consumer asks for more, so a large workspace never sits in memory. `onBytes` sees
 * each chunk of file content as it is packed.
 */
export function packWorkspace(root: string, files: WorkspaceFile[], onBytes: (n: number) => void = () => {}): Readable {
  const pack = tar.pack();
  const gzip = createGzip();
  const fill = async () => {
    for (const file of files) {
      const header = { name: file.name, mode: file.stat.mode & 0o777, mtime: file.stat.mtime };
      if (file.stat.isDirectory()) pack.entry({ ...header, type: "directory" });
      else if (file.linkname !== undefined) pack.entry({ ...header, type: "symlink", linkname: file.linkname });
      // A read stream cannot be bounded to zero bytes (`end` is inclusive), so an empty file gets no stream.
      else if (file.stat.size === 0) pack.entry({ ...header, type: "file" }, EMPTY);
      else {
        // Only the bytes the header counts: a file still growing (a log) must not overrun its entry.
        const source = createReadStream(join(root, file.name), { end: file.stat.size - 1 });
        source.on("data", (chunk) => onBytes(chunk.length));
        await pipeline(source, pack.entry({ ...header, type: "file", size: file.stat.size }));
      }
    }
    pack.finalize();
  };
  fill().catch((e) => pack.destroy(e));
  // The pipeline carries a packing error (say, a file shrinking while read) to the gzip stream's consumer.
  pipeline(pack, gzip).catch(() => {});
  return gzip;
}
