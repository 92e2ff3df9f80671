import { afterAll } from "bun:test";
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

/** A temp dir removed after the file's tests; `fresh(name)` makes a new, empty dir in it. */
export function scratchDirs(prefix: string): { root: string; fresh(name: string): string } {
  const root = mkdtempSync(join(tmpdir(), prefix));
  afterAll(() => rmSync(root, { recursive: true, force: true }));
  let n = 0;
  return {
    root,
    fresh(name) {
      const dir = join(root, `${name}-${n++}`);
      mkdirSync(dir, { recursive: true });
      return dir;
    },
  };
}
