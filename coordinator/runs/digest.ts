import { createHash } from "node:crypto";
import type { TaskSpec } from "../../shared/pipeline/index.ts";

/** History groups attempts of "the same work" by what ran and where, as Reflow keys its task db. */
export function commandDigest(task: TaskSpec, arch: string): string {
  const hash = createHash("sha256").update(arch);
  for (const step of task.steps) hash.update("\0").update(JSON.stringify(step));
  return hash.digest("hex");
}
