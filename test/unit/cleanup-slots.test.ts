import { afterAll, expect, test } from "bun:test";
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { cleanUpAfter } from "../../agent/runner/cleanup.ts";

const workDir = mkdtempSync(join(tmpdir(), "drover-cleanup-"));
afterAll(() => rmSync(workDir, { recursive: true, force: true }));

test("a dead sibling's attempt dirs are removed where they are: in the attempts dir, or in the slot of the sandbox its step ran in", () => {
  const inSlot = join(workDir, "sandboxes-dead", "1", "a1");
  const inAttempts = join(workDir, "attempts", "a2");
  const other = join(workDir, "sandboxes-dead", "0", "a3");
  for (const dir of [inSlot, inAttempts, other]) {
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, "file"), "x");
  }
  writeFileSync(join(workDir, "sandboxes-dead", "0.out"), "");
  const result = cleanUpAfter({ type: "cleanup", cleanup: "c1", agent: "id-dead", host: "elsewhere", workDir, attempts: ["a1", "a2"] }, workDir);
  expect(result.errors).toEqual([]);
  expect(result.removedPaths.sort()).toEqual([inAttempts, inSlot].sort());
  expect([existsSync(inSlot), existsSync(inAttempts), existsSync(other)]).toEqual([false, false, true]);
});
