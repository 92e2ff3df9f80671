import { existsSync, mkdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { formatBytes, LIMITS } from "../../shared/pipeline/limits.ts";
import { git, GitError, type RepoAccess, readBlob } from "./git.ts";

export class PipelineTooLarge extends Error {}

const SHA = /^[0-9a-f]{40}([0-9a-f]{24})?$/;
const ZERO = /^0+$/;
export const isSha = (text: string | null | undefined): text is string => !!text && SHA.test(text) && !ZERO.test(text);

/** Heads and tags, for when a commit is asked for by sha or by a name the forge did not say was a branch or a tag. */
const ALL_REFS = ["+refs/heads/*:refs/heads/*", "+refs/tags/*:refs/tags/*"];

/**
 * One bare mirror of a project's repository under the coordinator's data dir. It is fetched only for what a
 * run needs (the pushed ref, a PR's head and target) and read with git: the pipeline file at a commit, the files
 * a push or PR changed. Operations on one mirror run one at a time, so two deliveries never race on git's locks.
 */
export class Mirror {
  private tail: Promise<unknown> = Promise.resolve();
  private upkeepQueued = false;

  constructor(
    readonly dir: string,
    private readonly access: () => RepoAccess,
  ) {}

  /** Runs `fn` after every operation queued before it on this mirror. */
  exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.tail.then(fn, fn);
    this.tail = next.catch(() => {});
    return next;
  }

  private async init(): Promise<void> {
    if (existsSync(join(this.dir, "HEAD"))) return;
    rmSync(this.dir, { recursive: true, force: true });
    mkdirSync(this.dir, { recursive: true });
    // no template: its sample hooks and files are a dozen writes a mirror never reads
    await git(["init", "-q", "--bare", "--template=", this.dir]);
  }

  /** Fetches refspecs from the repository into the mirror (`+src:dst`, or a bare sha). */
  async fetch(refspecs: string[]): Promise<void> {
    await this.init();
    const access = this.access();
    // git's own upkeep after a fetch (a process of its own) waits for the operation that needed the fetch
    await git(["-c", "maintenance.auto=false", "fetch", "--quiet", "--no-tags", "--no-write-fetch-head", "--prune", access.url, ...refspecs], {
      cwd: this.dir,
      access,
    });
    if (this.upkeepQueued) return;
    this.upkeepQueued = true;
    void this.exclusive(() => {
      this.upkeepQueued = false;
      return git(["maintenance", "run", "--auto", "--quiet"], { cwd: this.dir });
    }).catch(() => {});
  }

  async hasCommit(sha: string): Promise<boolean> {
    if (!existsSync(join(this.dir, "HEAD"))) return false;
    const { code } = await git(["cat-file", "-e", `${sha}^{commit}`], { cwd: this.dir, allow: [1, 128] });
    return code === 0;
  }

  /**
   * Makes `sha` present: first by fetching the refs that should hold it (a push's branch, a PR's head),
   * then every head and tag, then the sha itself (servers that allow it).
   */
  async ensureCommit(sha: string, refs: string[]): Promise<void> {
    if (await this.hasCommit(sha)) return;
    const tries = [refs.map((r) => `+${r}:${r}`), ALL_REFS, [sha]].filter((t) => t.length > 0);
    let failure: unknown;
    for (const refspecs of tries) {
      try {
        await this.fetch(refspecs);
        failure = undefined;
      } catch (e) {
        if (!(e instanceof GitError)) throw e;
        failure = e;
      }
      if (await this.hasCommit(sha)) return;
    }
    if (failure) throw failure;
    throw new GitError(`commit ${sha} is not in the repository (force-pushed away?)`);
  }

  /** The commit a branch, tag or sha names, after fetching the heads and tags; undefined when none. */
  async resolve(name: string): Promise<string | undefined> {
    await this.fetch(ALL_REFS);
    const { code, stdout } = await git(["rev-parse", "--verify", "--quiet", `${name}^{commit}`], { cwd: this.dir, allow: [1, 128] });
    return code === 0 ? stdout.trim() : undefined;
  }

  /** A file's text at a commit; undefined when the commit has no such file. */
  async readFile(sha: string, path: string): Promise<string | undefined> {
    // bounded before reading, so a huge file never reaches memory; the same bound as a submitted pipeline's
    const read = await readBlob(this.dir, `${sha}:${path.replace(/^\.\//, "")}`, LIMITS.pipelineBytes);
    if (read && "tooLarge" in read) {
      throw new PipelineTooLarge(`${path} is ${read.tooLarge} bytes at ${sha.slice(0, 12)}; a pipeline file may be at most ${formatBytes(LIMITS.pipelineBytes)}`);
    }
    return read?.text;
  }

  /** Files that differ between two commits (renames count as both paths). */
  async changedFiles(from: string, to: string): Promise<string[]> {
    const { stdout } = await git(["diff", "--name-only", "--no-renames", "-z", from, to], { cwd: this.dir });
    return stdout.split("\0").filter(Boolean);
  }

  /** The commit's author name and full message. */
  async commitInfo(sha: string): Promise<{ author: string; message: string }> {
    const { stdout } = await git(["log", "-1", "--format=%an%x00%B", sha], { cwd: this.dir });
    const [author = "", message = ""] = stdout.split("\0");
    return { author, message: message.trim() };
  }

  async mergeBase(a: string, b: string): Promise<string | undefined> {
    const { code, stdout } = await git(["merge-base", a, b], { cwd: this.dir, allow: [1] });
    return code === 0 ? stdout.trim() : undefined;
  }
}
