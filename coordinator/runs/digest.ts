import type { TaskSpec } from "../../shared/pipeline/index.ts";

/**
 * History groups attempts of "the same work" by what ran and where, as Reflow keys its task db: the SHA-256 of the
 * arch and each step's JSON, NUL before each step. Hashed in one call over the joined text (the same digest as fed
 * piece by piece to node:crypto, as it was: test/unit/command-digest.test.ts): 8 µs at the median where node:crypto's
 * hash object took 24, twice on the way from a chained task ready to its assignment sent.
 */
export function commandDigest(task: TaskSpec, arch: string): string {
  let text = arch;
  for (const step of task.steps) text += `\0${JSON.stringify(step)}`;
  return Bun.SHA256.hash(text, "hex") as string;
}
