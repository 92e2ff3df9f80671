import { createWriteStream, existsSync, mkdirSync, realpathSync, rmSync, symlinkSync } from "node:fs";
import { dirname, isAbsolute, relative, resolve } from "node:path";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import type { Transform } from "node:stream";
import { createGunzip, createZstdDecompress } from "node:zlib";
import tar from "tar-stream";
import { linkStaysInside } from "./links.ts";

export class HostileArchiveError extends Error {}

function inside(root: string, target: string): boolean {
  const rel = relative(root, target);
  return rel === "" || (!rel.startsWith("..") && !isAbsolute(rel));
}

/** The nearest existing ancestor of `path`, with its links resolved. */
function realExisting(path: string): string {
  let at = path;
  while (!existsSync(at)) at = dirname(at);
  return realpathSync(at);
}

/**
 * Extracts a (compressed) tar under `dest`, refusing anything that would land
 * outside it: absolute names, `..`, links pointing out, hardlinks, devices and fifos.
 * Returns how many files it wrote.
 */
export async function extractArchive(body: ReadableStream<Uint8Array>, dest: string): Promise<number> {
  mkdirSync(dest, { recursive: true });
  const root = realpathSync(dest);
  // A link extracted earlier could redirect a later entry: check where the parent really is.
  const realParent = (target: string) => {
    mkdirSync(dirname(target), { recursive: true });
    const parent = realpathSync(dirname(target));
    return inside(root, parent) ? parent : null;
  };
  const extract = tar.extract();
  let files = 0;
  extract.on("entry", (header, stream, next) => {
    const fail = (why: string | Error) => {
      // Destroying the extraction errors the entry's stream too; that copy has no reader and must not crash the agent.
      stream.on("error", () => {});
      extract.destroy(why instanceof Error ? why : new HostileArchiveError(`refused archive entry "${header.name}": ${why}`));
    };
    if (isAbsolute(header.name)) return fail("absolute path");
    const target = resolve(root, header.name);
    if (!inside(root, target)) return fail("path leaves the destination");
    try {
      const parent = realParent(target);
      if (!parent) return fail("path leaves the destination through a link");
      switch (header.type) {
        case "directory":
          mkdirSync(target, { recursive: true });
          stream.resume();
          return next();
        case "file":
        case "contiguous-file":
          // An existing link at the name would be written through: replace it, as tar does.
          rmSync(target, { force: true });
          files++;
          pipeline(stream, createWriteStream(target, { mode: (header.mode ?? 0o644) & 0o777 })).then(() => next(), next);
          return;
        case "symlink": {
          const linkTarget = header.linkname ?? "";
          const pointsAt = resolve(parent, linkTarget);
          if (!linkStaysInside(relative(root, parent), linkTarget) || !inside(root, realExisting(pointsAt))) {
            return fail("symlink leaves the destination");
          }
          rmSync(target, { force: true });
          symlinkSync(linkTarget, target);
          stream.resume();
          return next();
        }
        default:
          return fail(`entries of type ${header.type} are not allowed`);
      }
    } catch (e) {
      // e.g. a file where the archive needs a directory: the extraction fails, nothing is forced
      return fail(e as Error);
    }
  });
  const { stream, decompressor } = await sniffCompression(body);
  const source = Readable.fromWeb(stream as unknown as import("node:stream/web").ReadableStream<Uint8Array>);
  if (decompressor) await pipeline(source, decompressor, extract);
  else await pipeline(source, extract);
  return files;
}

const startsWith = (bytes: Uint8Array, magic: number[]) => magic.every((b, i) => bytes[i] === b);

/**
 * Archives come zstd-compressed (workspaces and caches), gzipped (direct-run uploads) or plain:
 * the first bytes say which, and they are put back in front of the stream.
 */
async function sniffCompression(body: ReadableStream<Uint8Array>): Promise<{ stream: ReadableStream<Uint8Array>; decompressor: Transform | null }> {
  const reader = body.getReader();
  const first = await reader.read();
  const head = first.value ?? new Uint8Array(0);
  const stream = new ReadableStream<Uint8Array>({
    start(controller) {
      if (head.length) controller.enqueue(head);
      if (first.done) controller.close();
    },
    async pull(controller) {
      const next = await reader.read();
      if (next.done) controller.close();
      else controller.enqueue(next.value);
    },
    cancel: (reason) => reader.cancel(reason),
  });
  if (startsWith(head, [0x28, 0xb5, 0x2f, 0xfd])) return { stream, decompressor: createZstdDecompress() };
  if (startsWith(head, [0x1f, 0x8b])) return { stream, decompressor: createGunzip() };
  return { stream, decompressor: null };
}
