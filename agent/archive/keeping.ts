import { type BigIntStats, linkSync, lstatSync, realpathSync } from "node:fs";
import { basename, dirname, join } from "node:path";

/** An entry as packed, in archive order; files carry what identifies the inode that was read. */
export interface KeptEntry {
  name: string;
  type: "file" | "directory" | "symlink";
  mode: number;
  size: number;
  linkname: string;
  ino?: bigint;
  mtimeNs?: bigint;
  /** the path a kept file was packed from, in the saving attempt's dir, through no symlink */
  source?: string;
}

/**
 * A file whose mtime is this close to when it was looked at may be written again within the same
 * tick of the kernel's coarse clock, leaving its mtime unchanged (git's "racily clean" files), so
 * it could change unnoticed: it is looked at again once this has passed, and if it is still being
 * written after a few tries, its archive is not kept.
 */
const RACY_NS = 20_000_000n;
const RACY_TRIES = 3;
/**
 * How long until a racily new file is not one, in ms; null when it is not one. An mtime a little
 * ahead of the clock is new too (Date.now() is whole ms, mtimes can be finer); one far ahead is not
 * (a write now would change it).
 */
function racyFor(st: BigIntStats): number | null {
  const age = BigInt(Date.now()) * 1_000_000n - st.mtimeNs;
  // whole ms, one more: Date.now() may be up to a ms behind
  return age > -RACY_NS && age < RACY_NS ? Math.ceil(Number(RACY_NS - age) / 1e6) + 1 : null;
}

/** One archive's links, gathered while it is packed. */
export class Keeping {
  readonly entries: KeptEntry[] = [];
  bytes = 0;
  /** why this archive is not kept, once something rules it out */
  refused: string | null = null;
  /** each packed dir's path through no symlink */
  private readonly realDirs = new Map<string, string>();

  constructor(
    readonly dir: string,
    private readonly budget: number,
  ) {}

  /** Where the link for entry `index` lives. */
  path(index: number): string {
    return join(this.dir, String(index));
  }

  /** lstat of `path`, taken once a file in it is not racily new (see RACY_NS); the packer uses this one. */
  async settled(path: string): Promise<BigIntStats> {
    for (let tries = 1; ; tries++) {
      const st = lstatSync(path, { bigint: true });
      const wait = racyFor(st);
      if (this.refused || !st.isFile() || wait === null || tries === RACY_TRIES) return st;
      await Bun.sleep(wait);
    }
  }

  /** A directory or symlink, as packed. */
  other(entry: KeptEntry): void {
    if (!this.refused) this.entries.push(entry);
  }

  /** A regular file about to be read into the archive: `st` is its `settled` lstat, taken before reading it. */
  file(name: string, mode: number, path: string, st: BigIntStats): void {
    if (this.refused) return;
    this.bytes += Number(st.size);
    this.refused = this.refusal(name, path, st);
    if (!this.refused) {
      this.entries.push({ name, type: "file", mode, size: Number(st.size), linkname: "", ino: st.ino, mtimeNs: st.mtimeNs, source: this.realPath(path) });
    }
  }

  private realPath(path: string): string {
    const dir = dirname(path);
    let real = this.realDirs.get(dir);
    if (real === undefined) {
      real = realpathSync(dir);
      this.realDirs.set(dir, real);
    }
    return join(real, basename(path));
  }

  /** Why the file rules the archive out, or null once it is linked. */
  private refusal(name: string, path: string, st: BigIntStats): string | null {
    // Another name for the inode (in the work dir or anywhere) would stay linked to the restored file.
    if (st.nlink !== 1n) return `${name} has more than one name`;
    if (racyFor(st) !== null) return `${name} was being written`;
    if (this.bytes > this.budget) return "it is larger than this agent keeps";
    try {
      linkSync(path, this.path(this.entries.length));
      return null;
    } catch (e) {
      return `linking ${name}: ${(e as Error).message}`;
    }
  }
}
