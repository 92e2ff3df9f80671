import { chmodSync, chownSync, existsSync, mkdirSync, readdirSync, renameSync, statSync } from "node:fs";
import { basename, isAbsolute, join, normalize } from "node:path";
import type { CheckoutSpec } from "../../shared/protocol/index.ts";
import { assertAllowed, CheckoutError } from "./allowed.ts";
import { GitAccess, GitError, withoutCredentials } from "./git.ts";
import { type KeptTree, KeptTrees, type KeptTreesOptions, type TreeToKeep } from "./kept-trees.ts";
import { FileLock } from "./lock.ts";
import { fetchIntoMirror, lockPath, mirrorPath, pruneMirrors } from "./mirrors.ts";
import { updateSubmodules } from "./submodules.ts";
import { removeTree } from "./tidy-tree.ts";

export interface CheckoutOptions {
  /** bare mirrors, one per repository, shared by the agent's attempts (and by agents given the same dir) */
  mirrorsDir: string;
  /** bytes the mirrors may take; the least recently used beyond it are removed */
  budgetBytes: number;
  /** a regular expression the whole clone URL must match (credentials taken out); null allows any */
  allowedRepos: string | null;
  /** how long to wait for a mirror's lock before a plain clone */
  lockTimeoutMs: number;
  /** the work trees kept after attempts, per repository, for the next checkout of each to bring up to date */
  kept: KeptTreesOptions;
}

const SHA = /^[0-9a-f]{40}([0-9a-f]{24})?$/;

/**
 * Puts commit `spec.sha` into `workDir/spec.path`: through the repository's mirror (fetch under its lock,
 * then a local clone, which hardlinks the mirror's objects, into a kept work tree of the repository when
 * there is one), or by a plain fetch from the remote when the lock is busy past the bound. `log` gets one
 * line per stage. Credentials reach git only (git.ts). Returns what keeps the tree when the attempt ends.
 */
export async function checkout(
  spec: CheckoutSpec,
  workDir: string,
  opts: CheckoutOptions,
  log: (line: string) => void,
  signal?: AbortSignal,
): Promise<TreeToKeep | null> {
  const { url, credentials } = splitCredentials(spec);
  const shown = withoutCredentials(url);
  if (!SHA.test(spec.sha)) throw new CheckoutError(`checkout: "${spec.sha}" is not a full commit sha`);
  if (spec.ref !== null && !/^refs\/[A-Za-z0-9._\/+-]+$/.test(spec.ref))
    throw new CheckoutError(`checkout: "${spec.ref}" is not a ref`);
  if (url.startsWith("-")) throw new CheckoutError(`checkout: "${shown}" is not a repository URL`);
  assertAllowed(shown, opts.allowedRepos);
  const path = normalize(spec.path || ".");
  if (isAbsolute(path) || path === ".." || path.startsWith("../"))
    throw new CheckoutError(`checkout: path "${spec.path}" is outside the work dir`);
  const target = join(workDir, path);
  if (existsSync(target) && readdirSync(target).length > 0)
    throw new CheckoutError(`checkout: ${path} in the work dir is not empty`);
  mkdirSync(target, { recursive: true });
  // an attempt's dir is the steps' user's (--run-as) by now, and git refuses to work in a tree another user owns
  const uid = process.getuid?.() ?? 0;
  const gid = process.getgid?.() ?? 0;
  if (statSync(target).uid !== uid) chownSync(target, uid, gid);
  log(`checkout: ${shown} at ${spec.sha}${spec.ref ? ` (${spec.ref})` : ""} into ${path === "." ? "the work dir" : path}`);
  const git = new GitAccess(url, credentials, signal);
  const pool = KeptTrees.of(opts.kept);
  try {
    const mirror = mirrorPath(opts.mirrorsDir, url);
    const key = basename(mirror, ".git");
    mkdirSync(opts.mirrorsDir, { recursive: true });
    const lock = await FileLock.acquire(lockPath(mirror), opts.lockTimeoutMs, signal);
    if (lock) {
      try {
        log(`checkout: ${(await fetchIntoMirror(git, mirror, url, spec.sha, spec.ref)).note}`);
        const kept = pool ? await pool.take(key) : null;
        if (kept && pool) await cloneOver(git, kept, mirror, target, spec, log).finally(() => pool.drop(kept));
        else await cloneFrom(git, mirror, target, spec, true);
      } finally {
        await lock.release();
      }
      const pruned = await pruneMirrors(opts.mirrorsDir, opts.budgetBytes, mirror);
      if (pruned.length)
        log(`checkout: removed ${pruned.length} least recently used mirror(s) to stay within the mirrors' budget`);
    } else {
      log(`checkout: the mirror is busy after ${opts.lockTimeoutMs / 1000} s; cloning from the remote instead`);
      await cloneFrom(git, url, target, spec, false);
    }
    await git.git(["remote", "add", "origin", shown], target);
    log(`checkout: HEAD is ${spec.sha}`);
    if (spec.submodules) {
      log(`checkout: ${await updateSubmodules(git, target, opts.allowedRepos)} submodule(s) checked out`);
    }
    return pool?.reserve(key, target, spec.sha) ?? null;
  } catch (e) {
    if (e instanceof GitError) throw new CheckoutError(`checkout of ${shown} failed: ${e.message}`);
    throw e;
  } finally {
    git.dispose();
  }
}

async function cloneFrom(git: GitAccess, source: string, target: string, spec: CheckoutSpec, fromMirror: boolean): Promise<void> {
  await cloneGitDir(git, source, target, spec, fromMirror);
  await git.git(["checkout", "-q", "--detach", spec.sha], target);
}

/**
 * A fresh `.git` from the mirror (never the one the step had: it may have planted hooks, config or alternates)
 * with the kept tree's files and the index that describes them, then a checkout that writes only what differs
 * from the commit, and no untracked file left. Where that fails, the files go and the checkout starts afresh.
 */
async function cloneOver(git: GitAccess, kept: KeptTree, mirror: string, target: string, spec: CheckoutSpec, log: (line: string) => void) {
  try {
    const clone = join(kept.entry, "clone");
    // what the checkout will write (for the log), asked of the mirror while the fresh .git is cloned from it
    const inMirror = ["--git-dir", mirror, "--work-tree", kept.tree, "diff-index", "--name-only", "-z", spec.sha];
    const [differ] = await Promise.all([
      git.git(inMirror, kept.tree, { GIT_INDEX_FILE: kept.index }).then((out) => out.split("\0").filter(Boolean).length),
      cloneGitDir(git, mirror, clone, spec, true),
    ]);
    // the kept tree (the agent's) in the target's place, with its mode: a rename of each of its files would change their ctime
    chmodSync(kept.tree, statSync(target).mode & 0o7777);
    renameSync(kept.tree, target);
    renameSync(join(clone, ".git"), join(target, ".git"));
    renameSync(kept.index, join(target, ".git", "index"));
    await git.git(["checkout", "-q", "-f", "--detach", spec.sha], target);
    await git.git(["clean", "-ffdxq"], target);
    log(`checkout: reusing a kept work tree (of ${kept.sha.slice(0, 12)}): ${differ} file(s) written or removed`);
  } catch (e) {
    if (git.aborted) throw e;
    log(`checkout: the kept work tree could not be reused (${(e as Error).message}); checking out afresh`);
    for (const name of readdirSync(target)) removeTree(join(target, name));
    await cloneFrom(git, mirror, target, spec, true);
  }
}

/**
 * Full history from a mirror: a local clone (hardlinked objects, so the mirror may be pruned later).
 * Shallow, or from the remote: init + fetch of the one commit (or its ref). Nothing checked out yet.
 */
async function cloneGitDir(git: GitAccess, source: string, target: string, spec: CheckoutSpec, fromMirror: boolean): Promise<void> {
  if (fromMirror && spec.depth === null) {
    await git.git(["clone", "-q", "--local", "--no-checkout", "--origin", "mirror", "--", source, target]);
    await git.git(["remote", "remove", "mirror"], target);
  } else {
    await git.git(["init", "-q", target]);
    const depth = spec.depth === null ? [] : [`--depth=${spec.depth}`];
    // a mirror serves any sha; a remote may only serve what a ref leads to
    const what = fromMirror || spec.ref === null ? spec.sha : spec.ref;
    await git.git(["fetch", "-q", "--no-tags", ...depth, "--", fromMirror ? `file://${source}` : source, what], target);
    if (!(await git.ok(["cat-file", "-e", `${spec.sha}^{commit}`], target))) {
      throw new GitError(`commit ${spec.sha} is not in ${spec.ref} any more (a force-push removed it?)`);
    }
  }
}

/** Credentials written into the URL (https://user:token@host/…) are taken out of it, never passed on argv. */
function splitCredentials(spec: CheckoutSpec): { url: string; credentials: CheckoutSpec["credentials"] } {
  if (spec.credentials) return { url: withoutCredentials(spec.url), credentials: spec.credentials };
  try {
    const u = new URL(spec.url);
    if ((u.protocol === "http:" || u.protocol === "https:") && (u.username || u.password)) {
      const credentials = {
        kind: "token" as const,
        username: decodeURIComponent(u.username) || "x-access-token",
        token: decodeURIComponent(u.password || u.username),
      };
      return { url: withoutCredentials(spec.url), credentials };
    }
  } catch {
    // scp-like (git@host:path) or a local path: nothing embedded to take out
  }
  return { url: spec.url, credentials: null };
}
