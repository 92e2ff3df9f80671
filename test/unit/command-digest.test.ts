import { expect, test } from "bun:test";
import { createHash } from "node:crypto";
import type { TaskSpec } from "../../shared/pipeline/index.ts";
import { commandDigest } from "../../coordinator/runs/digest.ts";

/** The digest as stored before (node:crypto, fed piece by piece): attempts' history keeps grouping across versions. */
function storedBefore(task: TaskSpec, arch: string): string {
  const hash = createHash("sha256").update(arch);
  for (const step of task.steps) hash.update("\0").update(JSON.stringify(step));
  return hash.digest("hex");
}

test("a task's command digest is the one attempts stored before, whatever its steps' text", () => {
  const steps = [
    { kind: "run", name: "build", command: "make -j4 && echo 'ünïcödé ✓' \0 done", env: { A: "b" } },
    { kind: "save_artifact", name: "keep", paths: ["out/**"] },
  ];
  for (const [task, arch] of [
    [{ steps: steps.slice(0, 1) }, "x86_64"],
    [{ steps }, ""],
    [{ steps: [] }, "arm64"],
  ] as [TaskSpec, string][]) {
    expect(commandDigest(task, arch)).toBe(storedBefore(task, arch));
  }
  expect(commandDigest({ steps: steps.slice(0, 1) } as TaskSpec, "x86_64")).not.toBe(commandDigest({ steps: steps.slice(0, 1) } as TaskSpec, "arm64"));
});
