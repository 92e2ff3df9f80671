import { chmodSync, lstatSync, mkdirSync, readdirSync, readFileSync, readlinkSync, symlinkSync, utimesSync, writeFileSync } from "node:fs";
import { join, relative } from "node:path";

/** Writes `files` (relative path → content) under `root`, dated a second back: not racily new (agent/archive/kept.ts). */
export function putFiles(root: string, files: Record<string, string>): void {
  const past = new Date(Date.now() - 1000);
  for (const [path, content] of Object.entries(files)) {
    mkdirSync(join(root, path, ".."), { recursive: true });
    writeFileSync(join(root, path), content);
    utimesSync(join(root, path), past, past);
  }
}

/**
 * What an archive must carry, under `root`: 4 files (23 bytes) of several modes, one empty, an
 * empty dir, a symlink inside the tree and one pointing out of it (which is left out).
 */
export function putSampleTree(root: string): void {
  putFiles(root, { "bin/run.sh": "#!/bin/sh\necho hi\n", "lib/tool.js": "tool", "secret.key": "k", empty: "" });
  chmodSync(join(root, "bin/run.sh"), 0o755);
  chmodSync(join(root, "secret.key"), 0o600);
  mkdirSync(join(root, "emptydir"));
  mkdirSync(join(root, "node_modules/.bin"), { recursive: true });
  symlinkSync("../../lib/tool.js", join(root, "node_modules/.bin/tool"));
  symlinkSync("/etc/passwd", join(root, "passwd"));
}

/** Every entry under `root`: kind, mode and content or link target, by relative name. */
export function tree(root: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (dir: string) => {
    for (const name of readdirSync(dir).sort()) {
      const path = join(dir, name);
      const st = lstatSync(path);
      const key = relative(root, path);
      const mode = (st.mode & 0o7777).toString(8);
      if (st.isSymbolicLink()) out[key] = `link -> ${readlinkSync(path)}`;
      else if (st.isDirectory()) {
        out[key] = `dir`;
        walk(path);
      } else out[key] = `file ${mode} ${readFileSync(path, "utf8")}`;
    }
  };
  walk(root);
  return out;
}
