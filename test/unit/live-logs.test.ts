import { expect, test } from "bun:test";
import { rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { LiveLogs } from "../../coordinator/logs/live-logs.ts";
import { openObjectStore } from "../../coordinator/store/open.ts";
import { scratchDirs } from "../helpers/scratch.ts";

const { root } = scratchDirs("drover-live-logs-");

test("a live log that is not there holds 0 bytes; a failure to look is an error, not 0 bytes stored", () => {
  const dir = join(root, "live");
  const logs = new LiveLogs(dir, openObjectStore(`posix:${join(root, "objects")}`), 1024 * 1024, false);
  const key = { run: "r", attempt: "a", step: 0 };
  expect(logs.stored(key)).toBe(0);
  // the live-logs dir replaced by a file: stat fails with ENOTDIR, and resuming from 0 would be wrong
  rmSync(dir, { recursive: true });
  writeFileSync(dir, "not a dir");
  expect(() => logs.stored(key)).toThrow(/ENOTDIR/);
});
