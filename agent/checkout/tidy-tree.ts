import { chmodSync, lchownSync, lstatSync, readdirSync, rmSync, type Stats, unlinkSync } from "node:fs";
import { join } from "node:path";
import { hasOwnAttributes } from "./xattrs.ts";

/**
 * Makes a work tree a step has had its way with hold only what a checkout writes, before it is kept: its `.git`
 * goes (the next checkout brings a fresh one), and so does every directory holding a `.git` of its own (a nested
 * repository or a submodule: git would not look inside), every symlink (a tracked one is written again; an
 * untracked one could lead git out of the tree), every file with more than one link (it shares its inode with
 * something outside), every FIFO, socket and device, and every file and directory with an ACL or extended
 * attribute a step set (git writes again what was tracked in them). Directories and files become the agent's and
 * get the modes a checkout gives under the agent's umask (a file keeps only whether its owner may execute it,
 * which is what git tracks), so a directory made unreadable or read-only is open again. Nothing is followed.
 * Throws when it cannot (a file of another user, and the agent not root): the tree is then not kept.
 */
export function tidyTree(root: string): void {
  const uid = process.getuid?.() ?? 0;
  const gid = process.getgid?.() ?? 0;
  const umask = process.umask();
  const dirMode = 0o777 & ~umask;
  const fileMode = 0o666 & ~umask;
  const fix = (path: string, st: Stats, mode: number) => {
    if (st.uid !== uid || st.gid !== gid) lchownSync(path, uid, gid);
    if ((st.mode & 0o7777) !== mode) chmodSync(path, mode);
  };
  const walk = (dir: string, top: boolean) => {
    const st = lstatSync(dir);
    if (!st.isDirectory()) throw new Error(`${dir} is not a directory`);
    if (top && hasOwnAttributes(dir)) throw new Error("it has extended attributes or an ACL a step set");
    fix(dir, st, dirMode);
    const names = readdirSync(dir);
    if (!top && (names.includes(".git") || hasOwnAttributes(dir))) {
      removeTree(dir);
      return;
    }
    for (const name of names) {
      const path = join(dir, name);
      if (name === ".git") {
        removeTree(path);
        continue;
      }
      const entry = lstatSync(path);
      if (entry.isDirectory()) walk(path, false);
      else if (entry.isFile() && entry.nlink === 1 && !hasOwnAttributes(path)) fix(path, entry, entry.mode & 0o100 ? dirMode : fileMode);
      else unlinkSync(path);
    }
  };
  walk(root, true);
}

/** The bytes of the files under `dir` (not following symlinks). */
export function treeBytes(dir: string): number {
  let total = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (entry.isFile()) total += lstatSync(join(entry.parentPath, entry.name)).size;
  }
  return total;
}

/**
 * Removes `path` whatever a step did to it: where a directory of the agent's own was made unreadable or
 * read-only (which stops even its owner from emptying it), every directory is opened first.
 */
export function removeTree(path: string): void {
  try {
    rmSync(path, { recursive: true, force: true });
    return;
  } catch {
    // opened below, then tried once more
  }
  const open = (dir: string) => {
    try {
      chmodSync(dir, 0o700);
      for (const entry of readdirSync(dir, { withFileTypes: true })) if (entry.isDirectory()) open(join(dir, entry.name));
    } catch {
      // not the agent's, or gone: rmSync says so below
    }
  };
  if (lstatSync(path, { throwIfNoEntry: false })?.isDirectory()) open(path);
  rmSync(path, { recursive: true, force: true });
}
