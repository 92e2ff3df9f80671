import { readdirSync, realpathSync } from "node:fs";
import { isAbsolute, join, normalize } from "node:path";
import picomatch from "picomatch";

export interface Expanded {
  /** matched files, directories and symlinks, relative to the root, sorted */
  paths: string[];
  /** patterns that matched nothing, so that steps can say so */
  unmatched: string[];
}

/** `./dist/` → `dist`; refuses patterns that could reach outside the root. */
function clean(pattern: string): string {
  const p = normalize(pattern).replace(/\/+$/, "");
  if (isAbsolute(p) || p === ".." || p.startsWith("../")) throw new Error(`path "${pattern}" is outside the work dir`);
  return p === "." ? "**" : p;
}

/**
 * Expands path globs (`dist/**`, `*.txt`, or a plain file or directory name, which
 * means everything under it) relative to `root`. Symlinks are listed but never
 * followed, so nothing outside the root is reached.
 */
export function expandGlobs(root: string, patterns: string[]): Expanded {
  const realRoot = realpathSync(root);
  const found = new Set<string>();
  const unmatched: string[] = [];
  for (const pattern of patterns) {
    const glob = clean(pattern);
    const isMatch = picomatch([glob, `${glob}/**`], { dot: true });
    const { base, isGlob } = picomatch.scan(glob);
    // Without `**` a glob cannot match deeper than its own segments: no need to walk further.
    const maxDepth = isGlob && !glob.includes("**") ? glob.split("/").length : Number.POSITIVE_INFINITY;
    const worthEntering = (dir: string) => base === "" || dir === base || base.startsWith(`${dir}/`) || dir.startsWith(`${base}/`);
    let hit = false;
    const pending = [""];
    for (let dir = pending.pop(); dir !== undefined; dir = pending.pop()) {
      for (const entry of readdirSync(join(realRoot, dir), { withFileTypes: true })) {
        const rel = dir === "" ? entry.name : `${dir}/${entry.name}`;
        if (isMatch(rel)) {
          found.add(rel);
          hit = true;
        }
        const depth = rel.split("/").length;
        if (entry.isDirectory() && depth < maxDepth && worthEntering(rel)) pending.push(rel);
      }
    }
    if (!hit) unmatched.push(pattern);
  }
  return { paths: [...found].sort(), unmatched };
}

