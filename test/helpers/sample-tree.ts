import { chmodSync, mkdirSync, symlinkSync, utimesSync, writeFileSync } from "node:fs";
import { join } from "node:path";

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
