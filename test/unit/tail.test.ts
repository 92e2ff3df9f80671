import { expect, test } from "bun:test";
import { appendFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { FileTail } from "../../agent/logs/tail.ts";
import { waitFor } from "../helpers/processes.ts";
import { scratchDirs } from "../helpers/scratch.ts";

const dirs = scratchDirs("drover-tail-");

test("a write after a quiet spell wakes the tail at once instead of waiting for its next poll", async () => {
  const path = join(dirs.fresh("quiet"), "out");
  writeFileSync(path, "");
  const seen: string[] = [];
  // a minute between idle polls: only the wake-up can deliver within the waits below
  const tail = new FileTail(path, { onBytes: (bytes) => seen.push(Buffer.from(bytes).toString()) }, 60_000);
  tail.start();
  try {
    appendFileSync(path, "first");
    await waitFor("the first write", () => seen.join("") === "first" || undefined, 5_000);
    // long past the tail's 30 eager polls: it is idle now
    await Bun.sleep(300);
    appendFileSync(path, " after a pause");
    await waitFor("the write after the pause", () => seen.join("") === "first after a pause" || undefined, 5_000);
  } finally {
    tail.finish();
  }
  appendFileSync(path, "!");
  // the tail has let go of the file: nothing more is read, and nothing throws
  await Bun.sleep(20);
  expect(seen.join("")).toBe("first after a pause");
});
