import { afterAll, expect, test } from "bun:test";
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { cleanUpAfter } from "../../agent/runner/cleanup.ts";
import type { CleanupRequest } from "../../shared/protocol/index.ts";

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

test("a dead sibling's kept work trees go with it, and nothing else of its own dir or another agent's", () => {
  const own = join(workDir, "agent-dead");
  const trees = join(own, "checkouts", "repo-key", "entry", "tree");
  const other = join(workDir, "agent-alive", "checkouts", "repo-key", "entry", "tree");
  for (const dir of [trees, other]) {
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, "file"), "x");
  }
  writeFileSync(join(own, "identity.json"), "{}");
  const request: CleanupRequest = { type: "cleanup", cleanup: "c2", agent: "id-dead", host: "elsewhere", workDir, attempts: [] };
  // a name with a slash names no dir of this work root's agents: refused, whatever it points at
  expect(cleanUpAfter({ ...request, name: "x/../../alive" }, workDir).removedPaths).toEqual([]);
  const result = cleanUpAfter({ ...request, name: "dead" }, workDir);
  expect(result.errors).toEqual([]);
  expect(result.removedPaths).toEqual([join(own, "checkouts")]);
  expect([existsSync(join(own, "checkouts")), existsSync(join(own, "identity.json")), existsSync(join(other, "file"))]).toEqual([false, true, true]);
});
