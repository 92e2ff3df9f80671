import { existsSync, mkdirSync, readdirSync } from "node:fs";
import { isAbsolute, join, normalize } from "node:path";
import type { CheckoutSpec } from "../../shared/protocol/index.ts";
import { assertAllowed, CheckoutError } from "./allowed.ts";
import { GitAccess, GitError, withoutCredentials } from "./git.ts";
import { FileLock } from "./lock.ts";
import { fetchIntoMirror, lockPath, mirrorPath, pruneMirrors } from "./mirrors.ts";
import { updateSubmodules } from "./submodules.ts";

export interface CheckoutOptions {
  /** bare mirrors, one per repository, shared by the agent's attempts (and by agents given the same dir) */
  mirrorsDir: string;
  /** bytes the mirrors may take; the least recently used beyond it are removed */
  budgetBytes: number;
  /** a regular expression the whole clone URL must match (credentials taken out); null allows any */
  allowedRepos: string | null;
  /** how long to wait for a mirror's lock before a plain clone */
  lockTimeoutMs: number;
}

const SHA = /^[0-9a-f]{40}([0-9a-f]{24})?$/;

/**
 * Puts commit `spec.sha` into `workDir/spec.path`: through the repository's mirror (fetch under its lock,
 * then a local clone, which hardlinks the mirror's objects), or by a plain fetch from the remote when the
 * lock is busy past the bound. `log` gets one line per stage. Credentials reach git only (git.ts).
 */
export async function checkout(
  spec: CheckoutSpec,
  workDir: string,
  opts: CheckoutOptions,
  log: (line: string) => void,
  signal?: AbortSignal,
): Promise<void> {
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
  log(`checkout: ${shown} at ${spec.sha}${spec.ref ? ` (${spec.ref})` : ""} into ${path === "." ? "the work dir" : path}`);
  const git = new GitAccess(url, credentials, signal);
  try {
    const mirror = mirrorPath(opts.mirrorsDir, url);
    mkdirSync(opts.mirrorsDir, { recursive: true });
    const lock = await FileLock.acquire(lockPath(mirror), opts.lockTimeoutMs, signal);
    if (lock) {
      try {
        log(`checkout: ${(await fetchIntoMirror(git, mirror, url, spec.sha, spec.ref)).note}`);
        await cloneFrom(git, mirror, target, spec, true);
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
  } catch (e) {
    if (e instanceof GitError) throw new CheckoutError(`checkout of ${shown} failed: ${e.message}`);
    throw e;
  } finally {
    git.dispose();
  }
}

/**
 * Full history from a mirror: a local clone (hardlinked objects, so the mirror may be pruned later).
 * Shallow, or from the remote: init + fetch of the one commit (or its ref) + checkout.
 */
async function cloneFrom(git: GitAccess, source: string, target: string, spec: CheckoutSpec, fromMirror: boolean): Promise<void> {
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
  await git.git(["checkout", "-q", "--detach", spec.sha], target);
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
