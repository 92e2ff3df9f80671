import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readdirSync, rmSync, statSync, utimesSync, writeFileSync } from "node:fs";
import { basename, join } from "node:path";
import { type GitAccess, GitError, withoutCredentials } from "./git.ts";
import { FileLock } from "./lock.ts";

/** Marks a mirror's last use (its mtime): pruning drops the least recently used first. */
const USED = "drover-used";

/** `<mirrors>/<repo name>-<hash of the URL>.git`: one bare mirror per repository URL. */
export function mirrorPath(mirrorsDir: string, url: string): string {
  const clean = withoutCredentials(url).replace(/\/+$/, "");
  const name =
    basename(clean)
      .replace(/\.git$/, "")
      .replace(/[^A-Za-z0-9._-]/g, "_") || "repo";
  const hash = createHash("sha256").update(clean).digest("hex").slice(0, 16);
  return join(mirrorsDir, `${name}-${hash}.git`);
}

export const lockPath = (mirror: string) => `${mirror}.lock`;

/** The last commit fetched by itself (no ref named): what later fetches say the mirror has. */
const FETCHED = "refs/drover/fetched";

export interface MirrorFetch {
  /** what was done, for the task's log */
  note: string;
}

/**
 * Makes the mirror hold `sha` (the caller holds the mirror's lock): nothing to do when it already has it,
 * else it fetches only `ref` (or, with no ref, the sha itself) from the remote. A sha the ref no longer
 * leads to (a force-push removed it) is an error saying so.
 */
export async function fetchIntoMirror(
  git: GitAccess,
  mirror: string,
  url: string,
  sha: string,
  ref: string | null,
): Promise<MirrorFetch> {
  if (!existsSync(join(mirror, "HEAD"))) {
    mkdirSync(mirror, { recursive: true });
    await git.git(["init", "-q", "--bare", mirror]);
    // a checkout of a shallow depth fetches the sha from the mirror by id
    await git.git(["--git-dir", mirror, "config", "uploadpack.allowAnySHA1InWant", "true"]);
    await git.git(["--git-dir", mirror, "config", "gc.auto", "0"]);
  }
  touch(mirror);
  if (await git.ok(["--git-dir", mirror, "cat-file", "-e", `${sha}^{commit}`]))
    return { note: "the mirror has the commit already" };
  const started = Date.now();
  const refspec = ref ? `+${ref}:${ref}` : sha;
  try {
    await git.git(["--git-dir", mirror, "fetch", "-q", "--no-tags", "--no-write-fetch-head", url, refspec]);
  } catch (e) {
    if (ref && e instanceof GitError && /couldn't find remote ref/i.test(e.message))
      throw new GitError(`${ref} is not in ${withoutCredentials(url)}: ${e.message}`);
    throw e;
  }
  await packLooseObjects(git, mirror);
  const took = `${((Date.now() - started) / 1000).toFixed(1)} s`;
  if (!ref) {
    // a ref to the commit, or the next fetch has nothing to tell the remote it has and gets the whole history again
    await git.git(["--git-dir", mirror, "update-ref", FETCHED, sha]);
    return { note: `fetched ${sha} into the mirror in ${took}` };
  }
  if (!(await git.ok(["--git-dir", mirror, "merge-base", "--is-ancestor", sha, ref]))) {
    throw new GitError(`commit ${sha} is not in ${ref} any more (a force-push removed it?)`);
  }
  return { note: `fetched ${ref} into the mirror in ${took}` };
}

/** Loose objects and packs a mirror may hold before they are packed together: a local clone hard-links each file. */
const LOOSE_OBJECTS = 256;
const PACKS = 16;

/**
 * A fetch of a few dozen objects leaves them loose (git's unpack limit), and mirrors are never garbage-collected
 * (gc.auto 0: no gc in the background of a checkout), so a mirror would gather thousands of loose objects, and
 * every clone of it would make and later delete as many links (0.09-0.13 s a clone at 5,000, against 0.01 packed).
 * Past the bounds, a geometric repack (which costs what the new objects weigh, not the whole history) packs them.
 */
async function packLooseObjects(git: GitAccess, mirror: string): Promise<void> {
  const counts = new Map(
    (await git.git(["--git-dir", mirror, "count-objects", "-v"]))
      .split("\n")
      .map((line) => line.split(": ") as [string, string]),
  );
  if (Number(counts.get("count")) > LOOSE_OBJECTS || Number(counts.get("packs")) > PACKS)
    await git.git(["--git-dir", mirror, "repack", "--geometric=2", "-d", "-q"]);
}

function touch(mirror: string): void {
  const used = join(mirror, USED);
  if (!existsSync(used)) writeFileSync(used, "");
  const now = new Date();
  utimesSync(used, now, now);
}

function sizeOf(dir: string): number {
  let total = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (entry.isFile()) total += statSync(join(entry.parentPath, entry.name)).size;
  }
  return total;
}

/**
 * Drops the least recently used mirrors until the rest fit in `budgetBytes`; a mirror in use (its lock
 * held) is skipped. `keep` (the mirror just used) is never dropped. Returns the mirrors removed.
 */
export async function pruneMirrors(mirrorsDir: string, budgetBytes: number, keep: string): Promise<string[]> {
  if (!existsSync(mirrorsDir)) return [];
  const mirrors = readdirSync(mirrorsDir)
    .filter((n) => n.endsWith(".git"))
    .map((n) => join(mirrorsDir, n))
    .map((path) => ({ path, size: sizeOf(path), used: existsSync(join(path, USED)) ? statSync(join(path, USED)).mtimeMs : 0 }))
    .sort((a, b) => a.used - b.used);
  let total = mirrors.reduce((sum, m) => sum + m.size, 0);
  const removed: string[] = [];
  for (const m of mirrors) {
    if (total <= budgetBytes) break;
    if (m.path === keep) continue;
    const lock = await FileLock.acquire(lockPath(m.path), 0);
    if (!lock) continue;
    try {
      rmSync(m.path, { recursive: true, force: true });
    } finally {
      await lock.release();
    }
    total -= m.size;
    removed.push(m.path);
  }
  return removed;
}
