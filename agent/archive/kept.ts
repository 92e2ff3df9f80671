import { type BigIntStats, lstatSync, mkdirSync, realpathSync, rmSync, type StatsFs, statfsSync, unlinkSync } from "node:fs";
import { rm } from "node:fs/promises";
import { dirname, join } from "node:path";
import { newId } from "../../shared/ids.ts";
import { markTopDir } from "../runner/top-dir.ts";
import { CopyProgress } from "./copy-progress.ts";
import { Keeping, type KeptEntry } from "./keeping.ts";

/**
 * Workspace archives this agent saved, kept as hard links to the files it packed, so that a
 * downstream task that runs here moves them into place instead of downloading and extracting the
 * archive again (as Concourse reuses a volume on the worker that made it). The coordinator's copy
 * stays the truth: a kept copy is used only while every file is the very one packed (same inode,
 * size and mtime); otherwise, and on any other agent, the archive is downloaded.
 */

/** Kept copies older than this are dropped: downstream tasks start within seconds of their upstream. */
const MAX_AGE_MS = 30 * 60_000;

/** Kept copies hold disk space that removing the attempt would free: none is kept while less than this share is free. */
const MIN_FREE_SHARE = 0.1;

/** Whether the filesystem is too full to keep a copy on (see MIN_FREE_SHARE). */
export const diskTooFull = (fs: Pick<StatsFs, "bavail" | "blocks">) => fs.bavail < fs.blocks * MIN_FREE_SHARE;


/** A kept file that is no longer the one written: the copy is not used. */
export class ChangedCopyError extends Error {}

/** A kept archive taken for one restore; `release` removes what the restore left of it. */
export interface KeptArchive {
  /** in archive order; those of a copy still being prefetched come as it is written */
  entries: KeptEntry[];
  path(index: number): string;
  /**
   * True once entry `index` is there to be placed, false when the copy has no such entry; rejects with a
   * ChangedCopyError when its file is no longer the one written.
   */
  ready(index: number): Promise<boolean>;
  /**
   * Once every entry is placed: why the copy was not the stored archive after all (a prefetch that broke
   * off, or that came from another number of bytes), for a restore that then downloads; null when it was.
   */
  unusable(): Promise<string | null>;
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

/** A prefetch under way. */
interface Prefetching {
  keeping: Keeping;
  progress: CopyProgress;
  /** how many bytes of archive it came from once it ended, null if it failed */
  outcome: Promise<number | null>;
  /** a restore took it while it was written, and moves its entries as they come */
  claimed: boolean;
  /** that restore is done with it */
  released: boolean;
}

/** A prefetch being written into a kept copy (prefetch.ts). */
export interface PrefetchInto {
  keeping: Keeping;
  progress: CopyProgress;
  /** room for `bytes` more of it within the budget, older copies making room; false when there is none */
  room(bytes: number): boolean;
  /** It ended: kept for a restore of an archive of `archiveSize` bytes, or (null) discarded. */
  finish(archiveSize: number | null): void;
  /** whether a restore is taking the copy as it is written */
  claimed(): boolean;
}

/** This agent's kept workspace archives, by object, within a byte budget; 0 keeps none. */
export class KeptWorkspaces {
  private root: string | null = null;
  private readonly kept = new Map<string, Kept>();
  private total = 0;
  /** bytes that prefetches under way have written */
  private reserved = 0;
  /** prefetches under way, by object */
  private readonly prefetching = new Map<string, Prefetching>();

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
   * full, or the object is kept or being prefetched already. A restore of the object meanwhile takes
   * the copy as it is written (see claim).
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
    let settle: (archiveSize: number | null) => void = () => {};
    const outcome = new Promise<number | null>((resolve) => (settle = resolve));
    const state: Prefetching = { keeping, progress: new CopyProgress(), outcome, claimed: false, released: false };
    this.prefetching.set(object, state);
    return {
      keeping,
      progress: state.progress,
      room: (bytes) => {
        if (!this.makeRoom(bytes)) return false;
        this.reserved += bytes;
        held += bytes;
        return true;
      },
      finish: (archiveSize) => {
        this.reserved -= held;
        this.prefetching.delete(object);
        state.progress.end();
        settle(archiveSize);
        // a restore that took the copy removes it when it is done (again here, should it have been first)
        if (state.claimed) {
          if (state.released) void this.discard(keeping);
        } else if (archiveSize === null || !this.root || !keeping.dir.startsWith(this.root)) void this.discard(keeping);
        else {
          this.kept.set(object, { keeping, at: Date.now(), archiveSize });
          this.total += held;
          setTimeout(() => this.evict(Date.now() - MAX_AGE_MS), MAX_AGE_MS + 1000).unref();
        }
      },
      claimed: () => state.claimed,
    };
  }

  /** The archive was not stored, or its copy is done with: its links go. */
  discard(keeping: Keeping): Promise<void> {
    return rm(keeping.dir, { recursive: true, force: true });
  }

  /**
   * The kept copy of `archive`, taken off the list (a second restore downloads), or null when there
   * is none, a file in it is no longer the one written, or (prefetched) it came from an archive of
   * another size than the one stored; `note` says which. A copy still being prefetched is taken as it
   * is: its entries come as they are written, and it is checked the same ways, file by file and at its end.
   */
  async claim(archive: { object: string; size: number }, note: (line: string) => void): Promise<KeptArchive | null> {
    const live = this.prefetching.get(archive.object);
    if (live) {
      if (live.claimed) return null;
      note("placing the files of the prefetch of this workspace to this agent as it writes them");
      return this.following(live, archive.size);
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
    const linked = detach(keeping);
    if (linked) {
      note(`${copy} has another name for ${linked}: downloading the archive`);
      void release();
      return null;
    }
    const count = keeping.entries.length;
    return { entries: keeping.entries, path: (i) => keeping.path(i), ready: async (i) => i < count, unusable: async () => null, release, prefetched };
  }

  /** The copy a prefetch under way is writing, for a restore of an archive of `size` bytes. */
  private following(live: Prefetching, size: number): KeptArchive {
    live.claimed = true;
    const { keeping, progress } = live;
    const copy = "the copy prefetched to this agent";
    return {
      entries: keeping.entries,
      path: (i) => keeping.path(i),
      ready: async (i) => {
        if (!(await progress.ready(i))) return false;
        const entry = keeping.entries[i]!;
        if (entry.type === "file" && !unchanged(keeping, i)) throw new ChangedCopyError(`${copy} has changed since it was written (${entry.name})`);
        return true;
      },
      unusable: async () => {
        const archiveSize = await live.outcome;
        if (archiveSize === null) return "the prefetch of this workspace to this agent broke off";
        return archiveSize === size ? null : `${copy} has changed since it was written (${archiveSize} bytes of archive, stored ${size})`;
      },
      release: () => {
        live.released = true;
        return this.discard(keeping);
      },
      prefetched: true,
    };
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

/** Whether kept file `index` is still the inode recorded, unchanged. */
function unchanged(keeping: Keeping, index: number): boolean {
  const entry = keeping.entries[index]!;
  const st = lstatSync(keeping.path(index), { bigint: true, throwIfNoEntry: false });
  return !!st?.isFile() && st.ino === entry.ino && st.size === BigInt(entry.size) && st.mtimeNs === entry.mtimeNs;
}

/** The name of the first kept file that is not the inode packed, unchanged; null when none is. */
function changedFile(keeping: Keeping): string | null {
  for (const [i, entry] of keeping.entries.entries()) {
    if (entry.type === "file" && !unchanged(keeping, i)) return entry.name;
  }
  return null;
}

/**
 * Takes the saving attempt's own name for each kept file away (its ended dir goes anyway): a file placed while another
 * name still led to it would change under the restoring step as that name went (its ctime: `tar` fails with "file
 * changed as we read it"), or be written through the other name. The name of the first file that has another name
 * still, once that is done (a kept work tree, say, or a link a step made); null when none has.
 */
function detach(keeping: Keeping): string | null {
  // whether each dir is reached through no symlink, looked at once per dir (an archive's files share a few)
  const straight = new Map<string, boolean>();
  for (const [i, entry] of keeping.entries.entries()) {
    if (entry.type !== "file") continue;
    const link = lstatSync(keeping.path(i), { bigint: true });
    if (link.nlink === 1n) continue;
    const source = entry.source && ownName(entry.source, link, straight);
    if (source) unlinkIfThere(source);
    // with the name gone (by this unlink, or the removal under way) there is one fewer; else the count as it is now,
    // which that removal may have lowered meanwhile
    const names = source ? link.nlink - 1n : lstatSync(keeping.path(i), { bigint: true }).nlink;
    if (names !== 1n) return entry.name;
  }
  return null;
}

/** `source` when it is still a name of the kept inode, reached through no symlink a step may have put on its path; else null. */
function ownName(source: string, link: BigIntStats, straight: Map<string, boolean>): string | null {
  const dir = dirname(source);
  let reached = straight.get(dir);
  if (reached === undefined) {
    try {
      reached = realpathSync(dir) === dir;
    } catch {
      reached = false; // its dir is gone
    }
    straight.set(dir, reached);
  }
  if (!reached) return null;
  const st = lstatSync(source, { bigint: true, throwIfNoEntry: false });
  return st && st.ino === link.ino && st.dev === link.dev ? source : null;
}

/** Removes `path`, which the ended attempt's removal may be taking away at the same moment. */
function unlinkIfThere(path: string): void {
  try {
    unlinkSync(path);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== "ENOENT") throw e;
  }
}
