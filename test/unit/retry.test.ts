import { expect, test } from "bun:test";
import { retry } from "../../shared/retry.ts";

test("an abort cuts a backoff pause short, and no further try is made", async () => {
  // full jitter could draw a pause shorter than the wait for the abort: draw the longest
  const random = Math.random;
  Math.random = () => 1;
  const abort = new AbortController();
  let tries = 0;
  const started = performance.now();
  setTimeout(() => abort.abort(new Error("cancelled")), 50);
  const failing = retry(
    { tries: 5, baseMs: 10_000, maxMs: 10_000 },
    async () => {
      tries++;
      throw new Error(`try ${tries} failed`);
    },
    { signal: abort.signal },
  );
  try {
    await expect(failing).rejects.toThrow("try 1 failed");
  } finally {
    Math.random = random;
  }
  expect(tries).toBe(1);
  // the pause would have lasted up to 10 s
  expect(performance.now() - started).toBeLessThan(5_000);
});
