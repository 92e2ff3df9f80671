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
  writevSync,
} from "node:fs";
import { writeFile } from "node:fs/promises";
import { dirname, isAbsolute, relative, resolve } from "node:path";
import { linkStaysInside } from "../../shared/archive-links.ts";
import { AppendReservation } from "../../shared/reserve-space.ts";

export class HostileArchiveError extends Error {}

/** What the writer needs of a tar entry. */
export interface TarEntry {
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
/**
 * A large file's content is written a MiB at a time: stored frames hand it over in pieces of at most
 * 128 KiB (zstd's largest block), cut again where the network's reads end.
 */
const WRITE_BATCH = 1024 * 1024;
/** Small files being written at once. */
const WRITES_IN_FLIGHT = 8;

/** A file written as its pieces come, with space reserved ahead of it, and the pieces not written yet. */
interface LargeFile {
  fd: number;
  written: number;
  reservation: AppendReservation;
  batch: Uint8Array[];
  batched: number;
}

/** Writes entries under `root`, refusing anything that would land outside it. */
export class EntryWriter {
  files = 0;
  /** the large file being written */
  private file: LargeFile | null = null;
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
          this.file = { fd, written: 0, reservation: new AppendReservation(fd, entry.size), batch: [], batched: 0 };
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
      this.file.batch.push(data);
      this.file.batched += data.length;
      if (this.file.batched >= WRITE_BATCH) this.flushFile(this.file);
    }
  }

  /** Writes the large file's gathered pieces, in one call unless the kernel takes less. */
  private flushFile(file: LargeFile): void {
    file.reservation.grow(file.written);
    let written = file.batch.length > 0 ? writevSync(file.fd, file.batch) : 0;
    for (const piece of file.batch) {
      let at = Math.min(written, piece.length);
      written -= at;
      while (at < piece.length) at += writeSync(file.fd, piece, at, piece.length - at);
    }
    file.written += file.batched;
    file.batch = [];
    file.batched = 0;
  }

  /** Ends the entry; a file's content is on disk once the promise resolves true (false: its write failed, as `finish` says). */
  end(): Promise<boolean> {
    const file = this.file;
    this.file = null;
    if (file) {
      try {
        this.flushFile(file);
      } finally {
        closeSync(file.fd);
      }
    }
    const small = this.small;
    this.small = null;
    return small ? this.writeSmall(small) : Promise.resolve(true);
  }

  private writeSmall({ target, mode, pieces }: { target: string; mode: number; pieces: Uint8Array[] }): Promise<boolean> {
    // "wx": created here or failing, never written through whatever appeared at the name.
    const data = pieces.length === 1 ? pieces[0]! : Buffer.concat(pieces);
    const job = writeFile(target, data, { flag: "wx", mode }).then(
      () => true,
      (e: Error) => {
        this.failure ??= e;
        return false;
      },
    );
    this.writing.set(
      target,
      job.then(() => {
        this.writing.delete(target);
      }),
    );
    return job;
  }

  /** Every file on disk, or the first write's error. */
  async finish(): Promise<void> {
    this.end();
    await Promise.all(this.writing.values());
    if (this.failure) throw this.failure;
  }
}
