/** What a direct run records of the directory it uploads, when that is a git checkout. */
export interface LocalCheckout {
  sha?: string;
  branch?: string;
  message?: string;
  author?: string;
  /** changes (or untracked files) not in HEAD's commit */
  dirty?: boolean;
}

function git(dir: string, ...args: string[]): string | undefined {
  const out = Bun.spawnSync(["git", "-C", dir, ...args], { stdin: "ignore", stdout: "pipe", stderr: "ignore" });
  return out.exitCode === 0 ? out.stdout.toString() : undefined;
}

/** HEAD's sha, branch (none when detached), message and author, and whether the tree is dirty; empty outside git. */
export function localCheckout(dir: string): LocalCheckout {
  const head = git(dir, "log", "-1", "--format=%H%x00%an%x00%B");
  if (head === undefined) return {};
  const [sha, author, message] = head.split("\0");
  const branch = git(dir, "symbolic-ref", "--short", "-q", "HEAD")?.trim();
  const status = git(dir, "status", "--porcelain");
  return {
    sha,
    author,
    message: message?.trim(),
    ...(branch ? { branch } : {}),
    ...(status === undefined ? {} : { dirty: status.trim() !== "" }),
  };
}
