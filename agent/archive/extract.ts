import { mkdirSync, realpathSync } from "node:fs";
import { createGunzip } from "node:zlib";
import tar from "tar-stream";
import { EntryWriter, HostileArchiveError, type TarEntry } from "./entry-writer.ts";
import { decompressFrames } from "./frame-reader.ts";
import type { KeptArchive } from "./kept.ts";
import { through } from "./zstd-frames.ts";

export { HostileArchiveError } from "./entry-writer.ts";
/** A damaged or cut archive (as opposed to a hostile one). */
class CorruptArchiveError extends Error {}

/**
 * Bytes the tar parser takes before it says to wait: past its default of 16 KiB nearly every piece of a
 * stored frame (up to 128 KiB) made the loop feeding it wait for a drain event.
 */
const TAR_BUFFER_BYTES = 4 * 1024 * 1024;

const startsWith = (bytes: Uint8Array, magic: number[]) => magic.every((b, i) => bytes[i] === b);

/** Archives come zstd-compressed (workspaces and caches), gzipped (direct-run uploads) or plain: the first bytes say which. */
async function* decompressed(body: AsyncIterable<Uint8Array>): AsyncGenerator<Uint8Array> {
  const input = body[Symbol.asyncIterator]();
  try {
    const first = await input.next();
    if (first.done) return;
    const head = first.value;
    if (startsWith(head, [0x28, 0xb5, 0x2f, 0xfd])) yield* decompressFrames(head, input);
    else if (startsWith(head, [0x1f, 0x8b])) yield* through(createGunzip(), head, input);
    else {
      yield head;
      for (let next = await input.next(); !next.done; next = await input.next()) yield next.value;
    }
  } finally {
    // Stops the download when extraction stopped early (a refused entry).
    await input.return?.();
  }
}

/** Where an archive's entries go: files under a destination (EntryWriter), or a kept copy (kept-sink.ts). */
export interface EntrySink {
  begin(entry: TarEntry): Promise<void>;
  write(data: Uint8Array): void;
  end(): void;
  finish(): Promise<void>;
}

/**
 * Extracts a (compressed) tar under `dest`, refusing anything that would land
 * outside it: absolute names, `..`, links pointing out, hardlinks, devices and fifos.
 * Returns how many files it wrote.
 */
export async function extractArchive(body: AsyncIterable<Uint8Array>, dest: string): Promise<number> {
  mkdirSync(dest, { recursive: true });
  const writer = new EntryWriter(realpathSync(dest));
  await extractInto(body, writer);
  return writer.files;
}

/** Reads a (compressed) tar's entries into `writer`, in order; fails with the first entry it refuses. */
export async function extractInto(body: AsyncIterable<Uint8Array>, writer: EntrySink): Promise<void> {
  const extract = tar.extract({ highWaterMark: TAR_BUFFER_BYTES });
  let current: string | null = null;
  extract.on("entry", (header, content, next) => {
    // The entry's stream errors along with the extraction, which reports it.
    content.on("error", () => {});
    const fail = (e: unknown) => extract.destroy(e as Error);
    // A global pax header describes the archive (git writes the commit there), not an entry.
    if ((header.type as string) === "pax-global-header") {
      content.resume();
      return next();
    }
    current = header.name;
    const entry = {
      name: header.name.replace(/\/+$/, ""),
      type: header.type ?? "file",
      size: header.size ?? 0,
      mode: header.mode ?? 0o644,
      linkname: header.linkname ?? "",
    };
    writer.begin(entry).then(() => {
      content.on("data", (data) => {
        try {
          writer.write(data as Uint8Array);
        } catch (e) {
          fail(e);
        }
      });
      content.on("end", () => {
        try {
          writer.end();
        } catch (e) {
          return fail(e);
        }
        current = null;
        next();
      });
    }, fail);
  });
  const finished = new Promise<void>((resolve, reject) => {
    extract.on("finish", resolve);
    extract.on("error", reject);
  });
  finished.catch(() => {});
  const chunks = decompressed(body);
  try {
    for await (const chunk of chunks) {
      if (!extract.write(chunk))
        await Promise.race([new Promise<void>((drained) => extract.once("drain", () => drained())), finished]);
    }
    extract.end(undefined);
    await finished;
    await writer.finish();
  } catch (e) {
    await chunks.return(undefined).catch(() => {});
    extract.destroy();
    // Nothing may still be writing once this returns.
    await writer.finish().catch(() => {});
    throw explained(e as Error, current);
  }
}

/**
 * Puts a kept archive (kept.ts) under `dest` as extracting it would, entry by entry with the same
 * checks, moving its files into place (those of a copy still being prefetched as they come). Returns
 * how many files it placed.
 */
export async function adoptKept(kept: KeptArchive, dest: string): Promise<number> {
  mkdirSync(dest, { recursive: true });
  const writer = new EntryWriter(realpathSync(dest));
  for (let i = 0; await kept.ready(i); i++) {
    const entry = kept.entries[i]!;
    if (entry.type === "file") await writer.adopt(entry, kept.path(i));
    else await writer.begin(entry);
  }
  await writer.finish();
  return writer.files;
}

/** tar-stream's errors, said in terms of the archive. */
function explained(e: Error, entry: string | null): Error {
  if (e instanceof HostileArchiveError) return e;
  if (/^Invalid (tar )?header/.test(e.message))
    return new CorruptArchiveError(
      "not a valid tar archive: a header is damaged (or the archive is compressed in a way not known here)",
    );
  if (e.message === "Unexpected end of data") {
    return new CorruptArchiveError(`archive ends in the middle of ${entry ? `"${entry}"` : "a header"}`);
  }
  return e;
}
