import { randomUUID } from "node:crypto";
import { copyFileSync, existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, renameSync, statSync, utimesSync, writeFileSync } from "node:fs";
import { join, relative, sep } from "node:path";
import { GitAccess } from "./git.ts";
import { removeTree, tidyTree, treeBytes } from "./tidy-tree.ts";

export interface KeptTreesOptions {
  /** where the trees are kept: a dir of the agent's own, out of every step's reach */
  dir: string;
  /** trees kept per repository (attempts of one repository at once each take a different one); 0 keeps none */
  perRepository: number;
  /** bytes all kept trees may take together; the least recently kept beyond it are removed */
  budgetBytes: number;
  /** how long one git command on a kept tree may take (the default: GIT_TIMEOUT_MS) */
  gitTimeoutMs?: number;
}

/**
 * A git command on a kept tree that takes longer is ended and the tree not kept: the next checkout of the
 * repository waits for the tree being kept, and a git that never ended would have held it (and the mirror's
 * lock) for good.
 */
const GIT_TIMEOUT_MS = 120_000;

/** In an entry: the files, the index that describes them, and (written last) what commit they are of. */
const TREE = "tree";
const INDEX = "index";
const READY = "ready";
/** an empty repository the kept trees' indexes are refreshed in (they need no objects) */
const TOOLS = "tools.git";

/** A kept tree taken for a checkout, the taker's alone: its files in `tree`, described by `index`. */
export interface KeptTree {
  entry: string;
  tree: string;
  index: string;
  sha: string;
}

/** The index of a checkout just made, saved before any step ran: what keeps its tree when the attempt ends. */
export interface TreeToKeep {
  /** Moves the tree out of the attempt's dir into the kept ones (tidied); why not, when it is not kept. */
  keep(attemptDir: string): Promise<string | null>;
  /** The attempt ends without keeping it. */
  discard(): void;
}

const pools = new Map<string, KeptTrees>();

/**
 * The work trees of an agent's last checkouts, kept per repository (`key`, the mirror's name) so that the next
 * checkout of that repository writes only the files that differ. A tree is kept when its attempt ends: moved out
 * of the attempt's dir, tidied (tidy-tree.ts), its index (saved by the agent as the checkout ended, before any step
 * ran) refreshed against it — which hashes again every file whose ctime changed, something no step can set — and
 * what is not tracked cleaned away. Taking one is the taker's alone; one process per dir keeps the books.
 */
export class KeptTrees {
  private readonly busy = new Set<string>();
  private readonly keeping = new Map<string, Set<Promise<unknown>>>();
  private tools: Promise<void> | null = null;

  private constructor(private readonly opts: KeptTreesOptions) {}

  /** The pool of `opts.dir` in this process; null when nothing is kept. */
  static of(opts: KeptTreesOptions): KeptTrees | null {
    if (opts.perRepository <= 0 || opts.budgetBytes <= 0) return null;
    let pool = pools.get(opts.dir);
    if (!pool) {
      pool = new KeptTrees(opts);
      pools.set(opts.dir, pool);
    }
    return pool;
  }

  /** The most recently kept tree of `key` no one else has, once the trees of `key` being kept now are in. */
  async take(key: string): Promise<KeptTree | null> {
    await Promise.allSettled(this.keeping.get(key) ?? []);
    const found = this.entries(key)
      .filter((e) => e.sha !== null && !this.busy.has(e.entry))
      .sort((a, b) => b.at - a.at)[0];
    if (!found) return null;
    this.busy.add(found.entry);
    return { entry: found.entry, tree: join(found.entry, TREE), index: join(found.entry, INDEX), sha: found.sha! };
  }

  /** Done with a taken tree, its files moved into a checkout or not: what is left of it goes. */
  drop(taken: KeptTree): void {
    removeTree(taken.entry);
    this.busy.delete(taken.entry);
  }

  /**
   * Saves the index of the checkout just made at `target` (with its mtime, which tells git what it may have
   * written in the same instant as the files), for keeping its tree when the attempt ends.
   */
  reserve(key: string, target: string, sha: string): TreeToKeep | null {
    const index = join(target, ".git", INDEX);
    if (!existsSync(index)) return null;
    const entry = join(this.opts.dir, key, randomUUID());
    try {
      mkdirSync(this.opts.dir, { recursive: true, mode: 0o700 });
      mkdirSync(entry, { recursive: true, mode: 0o700 });
      copyFileSync(index, join(entry, INDEX));
      const st = statSync(index);
      utimesSync(join(entry, INDEX), st.atime, st.mtime);
    } catch {
      // no room, say: the tree is just not kept
      removeTree(entry);
      return null;
    }
    this.busy.add(entry);
    return {
      keep: (attemptDir) => this.track(key, this.keep({ entry, target, sha }, attemptDir)),
      discard: () => {
        removeTree(entry);
        this.busy.delete(entry);
      },
    };
  }

  private async track<T>(key: string, work: Promise<T>): Promise<T> {
    const under = this.keeping.get(key) ?? new Set();
    this.keeping.set(key, under.add(work));
    try {
      return await work;
    } finally {
      under.delete(work);
    }
  }

  private async keep({ entry, target, sha }: { entry: string; target: string; sha: string }, attemptDir: string): Promise<string | null> {
    const tree = join(entry, TREE);
    try {
      // a step may have put a symlink on the way: the rename would follow it out of the attempt's dir
      if (!realDirs(attemptDir, target)) throw new Error("its path in the attempt's dir is not a directory any more");
      renameSync(target, tree);
      tidyTree(tree);
      await this.git(["update-index", "-q", "--refresh"], tree, join(entry, INDEX));
      // what differs from the index goes now, so that the next checkout writes it whatever its own stat checks are
      // (the agent user's core.checkStat=minimal, say, would take a same-size edit for the commit's file)
      const changed = await this.git(["diff-files", "--name-only", "-z"], tree, join(entry, INDEX));
      for (const path of changed.split("\0").filter(Boolean)) removeTree(join(tree, path));
      await this.git(["clean", "-ffdxq"], tree, join(entry, INDEX));
      const bytes = treeBytes(tree);
      if (bytes > this.opts.budgetBytes) throw new Error(`its ${bytes} bytes are more than the kept trees' budget`);
      writeFileSync(join(entry, READY), JSON.stringify({ sha, bytes }));
    } catch (e) {
      removeTree(entry);
      return `the work tree is not kept: ${(e as Error).message}`;
    } finally {
      this.busy.delete(entry);
    }
    try {
      this.prune();
    } catch (e) {
      return `the kept trees could not all be pruned: ${(e as Error).message}`;
    }
    return null;
  }

  /**
   * Git on a kept tree with its own index, in an empty repository of the pool's (neither the step's nor a mirror),
   * whose attributes (which override the tree's own) turn off every conversion: a file is clean only if its bytes
   * are the commit's. Otherwise a step could add a `.gitattributes` (working-tree-encoding=IBM037, say) under which
   * a file it rewrote to other bytes of the same size converts back to the commit's, and would be kept as it is.
   */
  private async git(args: string[], tree: string, index: string): Promise<string> {
    const tools = join(this.opts.dir, TOOLS);
    const timeoutMs = this.opts.gitTimeoutMs ?? GIT_TIMEOUT_MS;
    const limit = AbortSignal.timeout(timeoutMs);
    try {
      return await this.gitWithin(new GitAccess("", null, limit), tools, args, tree, index);
    } catch (e) {
      if (limit.aborted) throw new Error(`git ${args[0]} took longer than ${timeoutMs / 1000} s`);
      throw e;
    }
  }

  private async gitWithin(access: GitAccess, tools: string, args: string[], tree: string, index: string): Promise<string> {
    this.tools ??= (async () => {
      if (!existsSync(join(tools, "HEAD"))) await access.git(["init", "-q", "--bare", tools]);
      mkdirSync(join(tools, "info"), { recursive: true });
      writeFileSync(join(tools, "info", "attributes"), "* -text -eol -crlf -filter -ident -working-tree-encoding\n");
    })().catch((e) => {
      // made again by the next keep, not failed for good
      this.tools = null;
      throw e;
    });
    await this.tools;
    // nor the agent user's config: core.checkStat=minimal or trustctime=false there would let a same-size edit pass
    const own = { GIT_INDEX_FILE: index, GIT_CONFIG_NOSYSTEM: "1", GIT_CONFIG_GLOBAL: "/dev/null" };
    return access.git(["--git-dir", tools, "--work-tree", tree, ...args], tree, own);
  }

  /** The entries of `key` (or of every repository): ready ones with their commit, size and when they were kept. */
  private entries(key?: string): { entry: string; key: string; sha: string | null; bytes: number; at: number }[] {
    const keys = key ? [key] : existsSync(this.opts.dir) ? readdirSync(this.opts.dir).filter((n) => n !== TOOLS) : [];
    return keys.flatMap((k) => {
      const dir = join(this.opts.dir, k);
      if (!existsSync(dir)) return [];
      return readdirSync(dir).map((name) => {
        const entry = join(dir, name);
        const ready = lstatSync(join(entry, READY), { throwIfNoEntry: false });
        if (!ready) return { entry, key: k, sha: null, bytes: 0, at: 0 };
        try {
          const { sha, bytes } = JSON.parse(readFileSync(join(entry, READY), "utf8")) as { sha: string; bytes: number };
          return { entry, key: k, sha, bytes, at: ready.mtimeMs };
        } catch {
          return { entry, key: k, sha: null, bytes: 0, at: 0 };
        }
      });
    });
  }

  /**
   * Keeps at most `perRepository` trees of a repository (the most recently kept) and `budgetBytes` in all (the least
   * recently kept go first); entries an earlier run of the agent left half made go too. Trees in use are not counted.
   */
  prune(): void {
    const idle = this.entries()
      .filter((e) => !this.busy.has(e.entry))
      .sort((a, b) => b.at - a.at);
    const perKey = new Map<string, number>();
    let total = 0;
    for (const e of idle) {
      const n = e.sha === null ? Number.POSITIVE_INFINITY : (perKey.get(e.key) ?? 0) + 1;
      if (e.sha !== null) perKey.set(e.key, n);
      if (e.sha === null || n > this.opts.perRepository || total + e.bytes > this.opts.budgetBytes) removeTree(e.entry);
      else total += e.bytes;
    }
  }
}

/** Whether every component from `root` down to `path` (inside it) is a directory, no symlink among them. */
function realDirs(root: string, path: string): boolean {
  const parts = relative(root, path).split(sep).filter(Boolean);
  if (parts[0] === "..") return false;
  let at = root;
  for (const part of ["", ...parts]) {
    at = join(at, part);
    if (!lstatSync(at, { throwIfNoEntry: false })?.isDirectory()) return false;
  }
  return true;
}
