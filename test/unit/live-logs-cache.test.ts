import { expect, test } from "bun:test";
import { join } from "node:path";
import { LiveLogs } from "../../coordinator/logs/live-logs.ts";
import { SEGMENT } from "../../coordinator/store/drop-behind.ts";
import { openObjectStore } from "../../coordinator/store/open.ts";
import { waitFor } from "../helpers/processes.ts";
import { scratchDirs } from "../helpers/scratch.ts";
import { cachedBytes } from "../helpers/page-cache.ts";

const { root } = scratchDirs("drover-live-logs-cache-");
const MiB = 1024 * 1024;

/** Appends `bytes` to the log a MiB at a time, pausing now and then as a network would, so writeback keeps up. */
async function appendMiBs(logs: LiveLogs, key: { run: string; attempt: string; step: number }, from: number, bytes: number): Promise<number> {
  const chunk = new Uint8Array(MiB).fill(97);
  let at = from;
  while (at < from + bytes) {
    at = logs.append(key, at, chunk);
    if (at % (4 * MiB) === 0) await Bun.sleep(2);
  }
  return at;
}

test("what a follower has yet to read of a live log stays in the page cache; once it stops, the writer drops it again", async () => {
  const logs = new LiveLogs(join(root, "live"), openObjectStore(`posix:${join(root, "objects")}`), 1024 * MiB, false);
  const key = { run: "r", attempt: "a", step: 0 };
  const path = logs.live(key)?.path ?? join(root, "live", "a-0.log");
  const stopFollowing = logs.watch(key, () => {}, () => 0);
  let size = await appendMiBs(logs, key, 0, 6 * SEGMENT);
  // nothing of it read yet: all of it kept (without the follower, all but the last two segments would go)
  expect(cachedBytes(path)).toBeGreaterThanOrEqual(5 * SEGMENT);
  stopFollowing();
  await Bun.sleep(200);
  size = await appendMiBs(logs, key, size, 2 * SEGMENT);
  await Bun.sleep(200);
  size = await appendMiBs(logs, key, size, SEGMENT);
  // the last segments may still be under writeback; the rest is gone (dropped on a thread of its own, so soon after)
  await waitFor("the pages read to leave the cache", () => (cachedBytes(path) < size / 2 ? true : undefined), 5_000);
  logs.release(key);
});
