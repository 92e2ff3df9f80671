import { type BigIntStats, linkSync, lstatSync, mkdirSync, rmSync, type StatsFs, statfsSync } from "node:fs";
import { rm } from "node:fs/promises";
import { join } from "node:path";
import { newId } from "../../shared/ids.ts";
import { markTopDir } from "../runner/top-dir.ts";

/**
 * Workspace archives this agent saved, kept as hard links to the files it packed, so that a
 * downstream task that runs here moves them into place instead of downloading and extracting the
 * archive again (as Concourse reuses a volume on the worker that made it). The coordinator's copy
 * stays the truth: a kept copy is used only while every file is the very one packed (same inode,
 * size and mtime); otherwise, and on any other agent, the archive is downloaded.
 */

/** An entry as packed, in archive order; files carry what identifies the inode that was read. */
export interface KeptEntry {
  name: string;
  type: "file" | "directory" | "symlink";
  mode: number;
  size: number;
  linkname: string;
  ino?: bigint;
  mtimeNs?: bigint;
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

/** Kept copies older than this are dropped: downstream tasks start within seconds of their upstream. */
const MAX_AGE_MS = 30 * 60_000;

/** Kept copies hold disk space that removing the attempt would free: none is kept while less than this share is free. */
const MIN_FREE_SHARE = 0.1;

/** Whether the filesystem is too full to keep a copy on (see MIN_FREE_SHARE). */
export const diskTooFull = (fs: Pick<StatsFs, "bavail" | "blocks">) => fs.bavail < fs.blocks * MIN_FREE_SHARE;

/** One archive's links, gathered while it is packed. */
export class Keeping {
  readonly entries: KeptEntry[] = [];
  bytes = 0;
  /** why this archive is not kept, once something rules it out */
  refused: string | null = null;

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
      this.entries.push({ name, type: "file", mode, size: Number(st.size), linkname: "", ino: st.ino, mtimeNs: st.mtimeNs });
    }
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

/** A kept archive taken for one restore; `release` removes what the restore left of it. */
export interface KeptArchive {
  entries: KeptEntry[];
  path(index: number): string;
  release(): Promise<void>;
  /** the copy was prefetched from another agent's upload, not kept by this agent's save */
  prefetched: boolean;
}

interface Kept {
  keeping: Keeping;
  at: number;
  /** a prefetched copy: how many bytes of archive it came from, which the stored archive's size must match */
  archiveSize?: number;
}

/** A prefetch being written into a kept copy (prefetch.ts). */
export interface PrefetchInto {
  keeping: Keeping;
  /** room for `bytes` more of it within the budget, older copies making room; false when there is none */
  room(bytes: number): boolean;
  /** It ended: kept for a restore of an archive of `archiveSize` bytes, or (null) discarded. */
  finish(archiveSize: number | null): void;
}

/** This agent's kept workspace archives, by object, within a byte budget; 0 keeps none. */
export class KeptWorkspaces {
  private root: string | null = null;
  private readonly kept = new Map<string, Kept>();
  private total = 0;
  /** bytes that prefetches under way have written */
  private reserved = 0;
  /** prefetches under way, by object: each settles when it ends, either way */
  private readonly prefetching = new Map<string, Promise<void>>();

  constructor(
    private readonly base: string,
    private readonly budget: number,
  ) {}

  /**
   * Kept copies live under the agent's id, so that a sibling can remove them after this agent dies;
   * whatever an earlier process with the same id left there is of no use now. Each copy's dir goes to a
   * block group of its own (see markTopDir): a prefetched copy makes a file per entry, and in the group
   * of the copy before it, whose files a finished attempt has just deleted, each cost several times more.
   */
  open(agentId: string): void {
    const root = join(this.base, agentId);
    if (root === this.root) return;
    this.close();
    rmSync(root, { recursive: true, force: true });
    mkdirSync(root, { recursive: true });
    markTopDir(root);
    this.root = root;
  }

  /** Drops every kept copy (the agent is leaving). */
  close(): void {
    for (const object of [...this.kept.keys()]) this.drop(object);
    if (this.root) rmSync(this.root, { recursive: true, force: true });
  }

  /** Starts keeping an archive about to be packed; null when keeping is off. */
  start(): Keeping | null {
    if (this.budget === 0 || !this.root) return null;
    const dir = join(this.root, newId());
    mkdirSync(dir, { recursive: true });
    return new Keeping(dir, this.budget);
  }

  /** The archive was stored as `object`: its links are kept, oldest copies making room; else why not. */
  keep(keeping: Keeping, object: string): string | null {
    if (!keeping.refused && diskTooFull(statfsSync(keeping.dir))) keeping.refused = "the disk is nearly full";
    if (keeping.refused) {
      void this.discard(keeping);
      return keeping.refused;
    }
    this.evict(Date.now() - MAX_AGE_MS);
    this.makeRoom(keeping.bytes);
    this.drop(object);
    this.kept.set(object, { keeping, at: Date.now() });
    this.total += keeping.bytes;
    // an idle agent lets go of it too
    setTimeout(() => this.evict(Date.now() - MAX_AGE_MS), MAX_AGE_MS + 1000).unref();
    return null;
  }

  /** Drops the oldest copies until `bytes` more fit the budget, or none is left; whether they fit. */
  private makeRoom(bytes: number): boolean {
    while (this.total + this.reserved + bytes > this.budget && this.kept.size > 0) this.drop(this.kept.keys().next().value!);
    return this.total + this.reserved + bytes <= this.budget;
  }

  /**
   * Starts a prefetch of `object` into a copy of its own; null when keeping is off, the disk is nearly
   * full, or the object is kept or being prefetched already. A restore of the object waits for it to end.
   */
  startPrefetch(object: string): PrefetchInto | null {
    if (this.kept.has(object) || this.prefetching.has(object)) return null;
    const keeping = this.start();
    if (!keeping) return null;
    if (diskTooFull(statfsSync(keeping.dir))) {
      void this.discard(keeping);
      return null;
    }
    let held = 0;
    let ended = () => {};
    this.prefetching.set(object, new Promise<void>((resolve) => (ended = resolve)));
    return {
      keeping,
      room: (bytes) => {
        if (!this.makeRoom(bytes)) return false;
        this.reserved += bytes;
        held += bytes;
        return true;
      },
      finish: (archiveSize) => {
        this.reserved -= held;
        this.prefetching.delete(object);
        if (archiveSize === null || !this.root || !keeping.dir.startsWith(this.root)) void this.discard(keeping);
        else {
          this.kept.set(object, { keeping, at: Date.now(), archiveSize });
          this.total += held;
          setTimeout(() => this.evict(Date.now() - MAX_AGE_MS), MAX_AGE_MS + 1000).unref();
        }
        ended();
      },
    };
  }

  /** The archive was not stored, or its copy is done with: its links go. */
  discard(keeping: Keeping): Promise<void> {
    return rm(keeping.dir, { recursive: true, force: true });
  }

  /**
   * The kept copy of `archive`, taken off the list (a second restore downloads), or null when there
   * is none, a file in it is no longer the one written, or (prefetched) it came from an archive of
   * another size than the one stored; `note` says which. A prefetch of it under way is waited for.
   */
  async claim(archive: { object: string; size: number }, note: (line: string) => void): Promise<KeptArchive | null> {
    const pending = this.prefetching.get(archive.object);
    if (pending) {
      note("waiting for the prefetch of this workspace to this agent to finish");
      await pending;
    }
    this.evict(Date.now() - MAX_AGE_MS);
    const found = this.take(archive.object);
    if (!found) return null;
    const { keeping, archiveSize } = found;
    const prefetched = archiveSize !== undefined;
    const release = () => this.discard(keeping);
    const copy = prefetched ? "the copy prefetched to this agent" : "the copy kept on this agent";
    const changed = prefetched && archiveSize !== archive.size ? `${archiveSize} bytes of archive, stored ${archive.size}` : changedFile(keeping);
    if (changed) {
      note(`${copy} has changed since it was ${prefetched ? "written" : "saved"} (${changed}): downloading the archive`);
      void release();
      return null;
    }
    return { entries: keeping.entries, path: (i) => keeping.path(i), release, prefetched };
  }

  private evict(before: number): void {
    for (const [object, { at }] of this.kept) if (at < before) this.drop(object);
  }

  /** Takes `object` off the list, if it is on it. */
  private take(object: string): Kept | null {
    const found = this.kept.get(object);
    if (!found) return null;
    this.kept.delete(object);
    this.total -= found.keeping.bytes;
    return found;
  }

  private drop(object: string): void {
    const found = this.take(object);
    if (found) void this.discard(found.keeping);
  }
}

/** The name of the first kept file that is not the inode packed, unchanged; null when none is. */
function changedFile(keeping: Keeping): string | null {
  for (const [i, entry] of keeping.entries.entries()) {
    if (entry.type !== "file") continue;
    const st = lstatSync(keeping.path(i), { bigint: true, throwIfNoEntry: false });
    const same = st?.isFile() && st.ino === entry.ino && st.size === BigInt(entry.size) && st.mtimeNs === entry.mtimeNs;
    if (!same) return entry.name;
  }
  return null;
}
