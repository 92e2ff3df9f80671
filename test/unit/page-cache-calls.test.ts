import { expect, test } from "bun:test";
import { closeSync, openSync, readdirSync, readlinkSync, writeSync } from "node:fs";
import { join } from "node:path";
import { offThreadCalls } from "../../coordinator/store/page-cache-calls.ts";
import { waitFor } from "../helpers/processes.ts";
import { scratchDirs } from "../helpers/scratch.ts";
import { cachedBytes } from "../helpers/page-cache.ts";

const { root } = scratchDirs("drover-page-cache-calls-");
const MiB = 1024 * 1024;

/** This process's descriptors open on `path`. */
function openOn(path: string): number {
  return readdirSync("/proc/self/fd").filter((fd) => {
    try {
      return readlinkSync(`/proc/self/fd/${fd}`) === path;
    } catch {
      return false;
    }
  }).length;
}

test.skipIf(process.platform !== "linux")(
  "calls made off the event loop write back and drop the file's pages, on a descriptor of their own closed after the last call",
  async () => {
    const path = join(root, "file");
    const fd = openSync(path, "w");
    const block = new Uint8Array(MiB).fill(7);
    for (let i = 0; i < 32; i++) writeSync(fd, block);
    expect(cachedBytes(path)).toBeGreaterThanOrEqual(32 * MiB);
    const calls = offThreadCalls(fd)!;
    calls.writeBack(0, 0);
    // the caller's descriptor may go at once: the calls are made on the duplicate
    closeSync(fd);
    // written back by now or soon: dropped as often as it takes (a page under writeback stays)
    await waitFor(
      "the file's pages to leave the cache",
      async () => {
        calls.drop(0, 0);
        await Bun.sleep(20);
        return cachedBytes(path) < MiB ? true : undefined;
      },
      10_000,
    );
    expect(openOn(path)).toBe(1);
    calls.close();
    await waitFor("the duplicate to be closed", () => (openOn(path) === 0 ? true : undefined), 5_000);
  },
);
