import {
  chmodSync,
  closeSync,
  existsSync,
  lstatSync,
  mkdirSync,
  openSync,
  realpathSync,
  renameSync,
  rmSync,
  symlinkSync,
  utimesSync,
  writeSync,
} from "node:fs";
import { writeFile } from "node:fs/promises";
import { dirname, isAbsolute, relative, resolve } from "node:path";
import { createGunzip } from "node:zlib";
import tar from "tar-stream";
import { linkStaysInside } from "../../shared/archive-links.ts";
import { AppendReservation } from "../../shared/reserve-space.ts";
import type { KeptArchive } from "./kept.ts";
import { decompressFrames } from "./frame-reader.ts";
import { through } from "./zstd-frames.ts";

export class HostileArchiveError extends Error {}
/** A damaged or cut archive (as opposed to a hostile one). */
class CorruptArchiveError extends Error {}

/** What the writer needs of a tar entry. */
interface TarEntry {
  name: string;
  type: string;
  size: number;
  mode: number;
  linkname: string;
}

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

/** Files up to this size are written whole on the thread pool, several at once: creating a file costs more than writing it. */
const SMALL_FILE = 1024 * 1024;
/** Small files being written at once. */
const WRITES_IN_FLIGHT = 8;

/** Writes entries under `root`, refusing anything that would land outside it. */
class EntryWriter {
  files = 0;
  /** the large file being written, with space reserved ahead of it */
  private file: { fd: number; written: number; reservation: AppendReservation } | null = null;
  /** a small file's content, collected to be written in one go */
  private small: { target: string; mode: number; pieces: Uint8Array[] } | null = null;
  private readonly writing = new Map<string, Promise<void>>();
  private failure: Error | null = null;
  /**
   * Parent dirs already made and found inside the root, with their real paths: most entries share a
   * parent, and checking one costs a mkdir and a realpath. Only removing something other than a
   * regular file (a link above all) can change where such a path leads, so that clears them, as does
   * making a link.
   */
  private readonly checkedDirs = new Map<string, string>();

  private readonly umask = process.umask();

  constructor(private readonly root: string) {}

  private refuse(entry: TarEntry, why: string): never {
    throw new HostileArchiveError(`refused archive entry "${entry.name}": ${why}`);
  }

  /**
   * Checks where the entry would land and waits until nothing else is writing that name; the
   * target and its parent's real path, or null for the destination itself (`tar -C dir .` names it "./").
   */
  private async place(entry: TarEntry): Promise<{ target: string; parent: string } | null> {
    if (isAbsolute(entry.name)) this.refuse(entry, "absolute path");
    const target = resolve(this.root, entry.name);
    if (!inside(this.root, target)) this.refuse(entry, "path leaves the destination");
    if (target === this.root) return entry.type === "directory" ? null : this.refuse(entry, "names the destination itself");
    // An earlier entry of the same name must be on disk before this one replaces it.
    await this.writing.get(target);
    if (this.writing.size >= WRITES_IN_FLIGHT) await Promise.race(this.writing.values());
    if (this.failure) throw this.failure;
    return { target, parent: this.checkedParent(entry, target) };
  }

  /** Creates the entry; file content follows through `write`. */
  async begin(entry: TarEntry): Promise<void> {
    const placed = await this.place(entry);
    if (!placed) return;
    const { target, parent } = placed;
    switch (entry.type) {
      case "directory":
        mkdirSync(target, { recursive: true });
        return;
      case "file":
      case "contiguous-file": {
        this.remove(target);
        const mode = entry.mode & 0o777;
        if (entry.size <= SMALL_FILE) this.small = { target, mode, pieces: [] };
        else {
          const fd = openSync(target, "wx", mode);
          this.file = { fd, written: 0, reservation: new AppendReservation(fd, entry.size) };
        }
        this.files++;
        return;
      }
      case "symlink": {
        const pointsAt = resolve(parent, entry.linkname);
        if (!linkStaysInside(relative(this.root, parent), entry.linkname) || !inside(this.root, realExisting(pointsAt))) {
          this.refuse(entry, "symlink leaves the destination");
        }
        this.remove(target);
        this.checkedDirs.clear();
        symlinkSync(entry.linkname, target);
        return;
      }
      default:
        this.refuse(entry, `entries of type ${entry.type} are not allowed`);
    }
  }

  /**
   * A file entry whose content is already on this filesystem at `from` (a kept copy): moved into
   * place, then given what writing it would have given it, the entry's mode under the umask and
   * the time as its mtime.
   */
  async adopt(entry: TarEntry, from: string): Promise<void> {
    const placed = await this.place(entry);
    if (!placed) this.refuse(entry, "names the destination itself");
    this.remove(placed.target);
    renameSync(from, placed.target);
    chmodSync(placed.target, entry.mode & 0o777 & ~this.umask);
    const now = new Date();
    utimesSync(placed.target, now, now);
    this.files++;
  }

  /** The real path of the entry's parent dir, made if missing; refuses the entry when that is outside the root. */
  private checkedParent(entry: TarEntry, target: string): string {
    const dir = dirname(target);
    const known = this.checkedDirs.get(dir);
    if (known) return known;
    // A link (extracted earlier, or already there) could redirect this entry: check where the parent
    // really is, first where it already exists, so that no directory is made beyond such a link.
    if (!inside(this.root, realExisting(dir))) this.refuse(entry, "path leaves the destination through a link");
    mkdirSync(dir, { recursive: true });
    const parent = realpathSync(dir);
    if (!inside(this.root, parent)) this.refuse(entry, "path leaves the destination through a link");
    this.checkedDirs.set(dir, parent);
    return parent;
  }

  /** Clears the name for a new file or link: an existing link there would be written through, so it is replaced, as tar does. */
  private remove(target: string): void {
    const existing = lstatSync(target, { throwIfNoEntry: false });
    if (!existing) return;
    // A regular file cannot be on the way to a checked dir; anything else might be.
    if (!existing.isFile()) this.checkedDirs.clear();
    rmSync(target, { force: true });
  }

  write(data: Uint8Array): void {
    if (this.small) this.small.pieces.push(data);
    else if (this.file) {
      const { fd, reservation } = this.file;
      reservation.grow(this.file.written);
      for (let at = 0; at < data.length; ) at += writeSync(fd, data, at, data.length - at);
      this.file.written += data.length;
    }
  }

  end(): void {
    if (this.file) closeSync(this.file.fd);
    this.file = null;
    if (this.small) this.writeSmall(this.small);
    this.small = null;
  }

  private writeSmall({ target, mode, pieces }: { target: string; mode: number; pieces: Uint8Array[] }): void {
    // "wx": created here or failing, never written through whatever appeared at the name.
    const data = pieces.length === 1 ? pieces[0]! : Buffer.concat(pieces);
    const job = writeFile(target, data, { flag: "wx", mode })
      .catch((e: Error) => {
        this.failure ??= e;
      })
      .finally(() => this.writing.delete(target));
    this.writing.set(target, job);
  }

  /** Every file on disk, or the first write's error. */
  async finish(): Promise<void> {
    this.end();
    await Promise.all(this.writing.values());
    if (this.failure) throw this.failure;
  }
}

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

/**
 * Extracts a (compressed) tar under `dest`, refusing anything that would land
 * outside it: absolute names, `..`, links pointing out, hardlinks, devices and fifos.
 * Returns how many files it wrote.
 */
export async function extractArchive(body: ReadableStream<Uint8Array>, dest: string): Promise<number> {
  mkdirSync(dest, { recursive: true });
  const writer = new EntryWriter(realpathSync(dest));
  const extract = tar.extract();
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
        writer.end();
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
  return writer.files;
}

/**
 * Puts a kept archive (kept.ts) under `dest` as extracting it would, entry by entry with the same
 * checks, moving its files into place. Returns how many files it placed.
 */
export async function adoptKept(kept: KeptArchive, dest: string): Promise<number> {
  mkdirSync(dest, { recursive: true });
  const writer = new EntryWriter(realpathSync(dest));
  for (const [i, entry] of kept.entries.entries()) {
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
