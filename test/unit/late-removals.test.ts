import { afterAll, expect, test } from "bun:test";
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { LateRemovals } from "../../agent/executor/late-removals.ts";

const root = mkdtempSync(join(tmpdir(), "drover-late-removals-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));

/** An attempt's work dir, with something in it. */
function workDir(name: string): string {
  const dir = join(root, name);
  mkdirSync(join(dir, "sub"), { recursive: true });
  writeFileSync(join(dir, "sub", "file"), "x");
  return dir;
}

test("an ended attempt's work dir stays until the next step's start is past (flush), then goes", async () => {
  const removals = new LateRemovals();
  const dirs = [workDir("a"), workDir("b")];
  const removed = dirs.map((d) => removals.remove(d));
  await Bun.sleep(0);
  expect(dirs.map(existsSync)).toEqual([true, true]);
  removals.flush();
  await Promise.all(removed);
  expect(dirs.map(existsSync)).toEqual([false, false]);
});

test("with no step coming, the dir goes anyway (REMOVE_AT_LATEST_MS); one already gone is no error", async () => {
  const removals = new LateRemovals();
  const dir = workDir("c");
  await removals.remove(dir);
  expect(existsSync(dir)).toBe(false);
  await removals.remove(dir);
});
