import { existsSync, lstatSync, readdirSync, readFileSync, readlinkSync, type Stats } from "node:fs";
import { join, posix } from "node:path";
import ignore, { type Ignore } from "ignore";
import { linkStaysInside } from "../shared/archive-links.ts";

export interface WorkspaceFile {
  /** path inside the workspace, `/`-separated */
  name: string;
  stat: Stats;
  linkname?: string;
}

interface Rules {
  /** the directory the `.gitignore` sits in, relative to the root ("" for the root) */
  base: string;
  rules: Ignore;
}

/** Never uploaded: git's own data, and `.drover/`, where the CLI kept per-directory state. */
const alwaysSkipped = (name: string, entry: string) => entry === ".git" || name === ".drover";

/** Deeper `.gitignore` files win over shallower ones, as in git; within one file the last matching rule wins. */
function ignored(stack: Rules[], name: string, isDir: boolean): boolean {
  for (let i = stack.length - 1; i >= 0; i--) {
    const { base, rules } = stack[i]!;
    const path = (base ? posix.relative(base, name) : name) + (isDir ? "/" : "");
    const verdict = rules.test(path);
    if (verdict.ignored) return true;
    if (verdict.unignored) return false;
  }
  return false;
}

/**
 * The files, directories and symlinks of `root` that a direct run uploads, parents
 * before children. Ignored directories are not entered, so (as in git) a rule cannot
 * re-include a file inside one.
 */
export function workspaceFiles(root: string): WorkspaceFile[] {
  const found: WorkspaceFile[] = [];
  const walk = (dir: string, stack: Rules[]) => {
    const gitignore = join(root, dir, ".gitignore");
    const rules = existsSync(gitignore) ? [...stack, { base: dir, rules: ignore().add(readFileSync(gitignore, "utf8")) }] : stack;
    for (const entry of readdirSync(join(root, dir)).sort()) {
      const name = dir ? `${dir}/${entry}` : entry;
      const path = join(root, name);
      const stat = lstatSync(path);
      if (alwaysSkipped(name, entry) || ignored(rules, name, stat.isDirectory())) continue;
      if (stat.isDirectory()) {
        found.push({ name, stat });
        walk(name, rules);
      } else if (stat.isFile()) {
        found.push({ name, stat });
      } else if (stat.isSymbolicLink()) {
        const linkname = readlinkSync(path);
        // The agent refuses an archive with a link leading out of the workspace, failing the whole run: its own rule decides.
        if (linkStaysInside(dir, linkname)) found.push({ name, stat, linkname });
      }
      // sockets, fifos and devices have no place in a workspace
    }
  };
  walk("", []);
  return found;
}
