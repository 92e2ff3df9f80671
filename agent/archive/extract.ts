import { createWriteStream, mkdirSync, realpathSync, symlinkSync } from "node:fs";
import { dirname, isAbsolute, relative, resolve } from "node:path";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { createGunzip } from "node:zlib";
import tar from "tar-stream";

export class HostileArchiveError extends Error {}

function inside(root: string, target: string): boolean {
  const rel = relative(root, target);
  return rel === "" || (!rel.startsWith("..") && !isAbsolute(rel));
}

/**
 * Extracts a (gzipped) tar under `dest`, refusing anything that would land
 * outside it: absolute names, `..`, links pointing out, devices and fifos.
 */
export async function extractArchive(body: ReadableStream<Uint8Array>, dest: string, gzip: boolean): Promise<number> {
  mkdirSync(dest, { recursive: true });
  const root = realpathSync(dest);
  // A link extracted earlier could redirect a later entry: check where the parent really is.
  const parentInside = (target: string) => {
    mkdirSync(dirname(target), { recursive: true });
    return inside(root, realpathSync(dirname(target)));
  };
  const extract = tar.extract();
  let files = 0;
  extract.on("entry", (header, stream, next) => {
    const fail = (why: string) => {
      stream.resume();
      extract.destroy(new HostileArchiveError(`refused archive entry "${header.name}": ${why}`));
    };
    if (isAbsolute(header.name)) return fail("absolute path");
    const target = resolve(root, header.name);
    if (!inside(root, target)) return fail("path leaves the destination");
    switch (header.type) {
      case "directory":
        if (!parentInside(target)) return fail("path leaves the destination through a link");
        mkdirSync(target, { recursive: true });
        stream.resume();
        return next();
      case "file":
      case "contiguous-file": {
        if (!parentInside(target)) return fail("path leaves the destination through a link");
        files++;
        pipeline(stream, createWriteStream(target, { mode: (header.mode ?? 0o644) & 0o777 })).then(() => next(), next);
        return;
      }
      case "symlink": {
        const linkTarget = header.linkname ?? "";
        if (!parentInside(target)) return fail("path leaves the destination through a link");
        const realParent = realpathSync(dirname(target));
        if (isAbsolute(linkTarget) || !inside(root, resolve(realParent, linkTarget))) return fail("symlink leaves the destination");
        symlinkSync(linkTarget, target);
        stream.resume();
        return next();
      }
      default:
        return fail(`entries of type ${header.type} are not allowed`);
    }
  });
  const source = Readable.fromWeb(body as unknown as import("node:stream/web").ReadableStream<Uint8Array>);
  if (gzip) await pipeline(source, createGunzip(), extract);
  else await pipeline(source, extract);
  return files;
}

