import { closeSync, existsSync, mkdirSync, openSync, realpathSync, rmSync, symlinkSync, writeSync } from "node:fs";
import { writeFile } from "node:fs/promises";
import { dirname, isAbsolute, relative, resolve } from "node:path";
import { createGunzip } from "node:zlib";
import { linkStaysInside } from "./links.ts";
import { BLOCK, CorruptArchiveError, decodeHeader, decodePax, paddingAfter, type TarEntry } from "./tar-header.ts";
import { decompressFrames, through } from "./zstd-frames.ts";

export class HostileArchiveError extends Error {}

/** Pax and GNU long-name records are a few names long; anything bigger is not one. */
const MAX_META_BYTES = 1024 * 1024;

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
  private fd: number | null = null;
  /** a small file's content, collected to be written in one go */
  private small: { target: string; mode: number; pieces: Uint8Array[] } | null = null;
  private readonly writing = new Map<string, Promise<void>>();
  private failure: Error | null = null;

  constructor(private readonly root: string) {}

  private refuse(entry: TarEntry, why: string): never {
    throw new HostileArchiveError(`refused archive entry "${entry.name}": ${why}`);
  }

  /** Creates the entry; file content follows through `write`. */
  async begin(entry: TarEntry): Promise<void> {
    if (isAbsolute(entry.name)) this.refuse(entry, "absolute path");
    const target = resolve(this.root, entry.name);
    if (!inside(this.root, target)) this.refuse(entry, "path leaves the destination");
    // `tar -C dir .` names the root itself "./"
    if (target === this.root) return entry.type === "directory" ? undefined : this.refuse(entry, "names the destination itself");
    // An earlier entry of the same name must be on disk before this one replaces it.
    await this.writing.get(target);
    if (this.writing.size >= WRITES_IN_FLIGHT) await Promise.race(this.writing.values());
    if (this.failure) throw this.failure;
    // A link extracted earlier could redirect this entry: check where the parent really is.
    mkdirSync(dirname(target), { recursive: true });
    const parent = realpathSync(dirname(target));
    if (!inside(this.root, parent)) this.refuse(entry, "path leaves the destination through a link");
    switch (entry.type) {
      case "directory":
        mkdirSync(target, { recursive: true });
        return;
      case "file":
      case "contiguous-file": {
        // An existing link at the name would be written through: replace it, as tar does.
        rmSync(target, { force: true });
        const mode = entry.mode & 0o777;
        if (entry.size <= SMALL_FILE) this.small = { target, mode, pieces: [] };
        else this.fd = openSync(target, "wx", mode);
        this.files++;
        return;
      }
      case "symlink": {
        const pointsAt = resolve(parent, entry.linkname);
        if (!linkStaysInside(relative(this.root, parent), entry.linkname) || !inside(this.root, realExisting(pointsAt))) {
          this.refuse(entry, "symlink leaves the destination");
        }
        rmSync(target, { force: true });
        symlinkSync(entry.linkname, target);
        return;
      }
      default:
        this.refuse(entry, `entries of type ${entry.type} are not allowed`);
    }
  }

  write(data: Uint8Array): void {
    if (this.small) this.small.pieces.push(data);
    else if (this.fd !== null) for (let at = 0; at < data.length; ) at += writeSync(this.fd, data, at, data.length - at);
  }

  end(): void {
    if (this.fd !== null) closeSync(this.fd);
    this.fd = null;
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

/**
 * Parses tar from chunks of any size: headers (with pax and GNU long-name records applied
 * to the entry they precede), then each entry's content, handed to the writer as it comes.
 */
class TarReader {
  private readonly header = new Uint8Array(BLOCK);
  private headerFill = 0;
  /** content of the current entry still to come, then its padding */
  private content = 0;
  private padding = 0;
  private entry: TarEntry | null = null;
  /** a pax or GNU long-name record being collected */
  private meta: { type: string; bytes: Uint8Array; fill: number } | null = null;
  private overrides: Record<string, string> = {};
  private offset = 0;
  private ended = false;

  constructor(private readonly writer: EntryWriter) {}

  async push(chunk: Uint8Array): Promise<void> {
    let at = 0;
    while (at < chunk.length && !this.ended) {
      const rest = chunk.length - at;
      if (this.content > 0) {
        const n = Math.min(rest, this.content);
        const piece = chunk.subarray(at, at + n);
        if (this.meta) {
          this.meta.bytes.set(piece, this.meta.fill);
          this.meta.fill += n;
        } else this.writer.write(piece);
        this.content -= n;
        at += n;
        if (this.content === 0) this.finishEntry();
      } else if (this.padding > 0) {
        const n = Math.min(rest, this.padding);
        this.padding -= n;
        at += n;
      } else {
        const n = Math.min(rest, BLOCK - this.headerFill);
        this.header.set(chunk.subarray(at, at + n), this.headerFill);
        this.headerFill += n;
        at += n;
        if (this.headerFill === BLOCK) {
          this.headerFill = 0;
          await this.startEntry(this.offset + at - BLOCK);
        }
      }
    }
    this.offset += chunk.length;
  }

  /** The stream ended: anything but a boundary between entries means it was cut short. */
  end(): void {
    if (this.content > 0 || this.headerFill > 0) {
      throw new CorruptArchiveError(`archive ends in the middle of ${this.entry ? `"${this.entry.name}"` : "a header"}`);
    }
  }

  private async startEntry(offset: number): Promise<void> {
    const decoded = decodeHeader(this.header, offset);
    if (!decoded) {
      this.ended = true;
      return;
    }
    this.padding = paddingAfter(decoded.size);
    this.content = decoded.size;
    if (["pax-header", "pax-global-header", "gnu-long-path", "gnu-long-link-path"].includes(decoded.type)) {
      if (decoded.size > MAX_META_BYTES) throw new CorruptArchiveError(`a ${decoded.type} record of ${decoded.size} bytes is not plausible`);
      this.meta = { type: decoded.type, bytes: new Uint8Array(decoded.size), fill: 0 };
      if (decoded.size === 0) this.finishEntry();
      return;
    }
    const { path, linkpath, size } = this.overrides;
    this.overrides = {};
    const entry = { ...decoded, name: (path ?? decoded.name).replace(/\/+$/, ""), linkname: linkpath ?? decoded.linkname };
    if (size !== undefined) {
      entry.size = Number(size);
      this.content = entry.size;
      this.padding = paddingAfter(entry.size);
    }
    this.entry = entry;
    await this.writer.begin(entry);
    if (this.content === 0) this.finishEntry();
  }

  private finishEntry(): void {
    const meta = this.meta;
    this.meta = null;
    if (!meta) {
      this.writer.end();
      this.entry = null;
      return;
    }
    const text = () => new TextDecoder().decode(meta.bytes).replace(/\0+$/, "");
    // A global pax header describes the archive (git writes the commit there), not an entry.
    if (meta.type === "pax-header") Object.assign(this.overrides, decodePax(meta.bytes));
    else if (meta.type === "gnu-long-path") this.overrides.path = text();
    else if (meta.type === "gnu-long-link-path") this.overrides.linkpath = text();
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
  const reader = new TarReader(writer);
  const chunks = decompressed(body);
  try {
    for await (const chunk of chunks) await reader.push(chunk);
    reader.end();
    await writer.finish();
  } catch (e) {
    await chunks.return(undefined).catch(() => {});
    // Nothing may still be writing once this returns.
    await writer.finish().catch(() => {});
    throw e;
  }
  return writer.files;
}
