import { expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { LiveLogs } from "../../coordinator/logs/live-logs.ts";
import { DiskFullError } from "../../coordinator/logs/log-errors.ts";
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

test("a live log's file is a spare made ahead and renamed into place; one already there (a restarted coordinator's) keeps its bytes", async () => {
  const dir = join(root, "spares");
  mkdirSync(dir);
  writeFileSync(join(dir, "a-0.log"), "abc");
  const logs = new LiveLogs(dir, openObjectStore(`posix:${join(root, "objects3")}`), 1024 * 1024, false);
  const bytes = (text: string) => new TextEncoder().encode(text);
  expect(logs.append({ run: "r", attempt: "a", step: 0 }, 3, bytes("def"))).toBe(6);
  expect(readFileSync(join(dir, "a-0.log"), "utf8")).toBe("abcdef");
  logs.append({ run: "r", attempt: "b", step: 0 }, 0, bytes("x"));
  await Bun.sleep(100);
  const spares = readdirSync(join(dir, ".spare")).map((name) => statSync(join(dir, ".spare", name)).ino);
  expect(spares.length).toBeGreaterThan(0);
  logs.append({ run: "r", attempt: "c", step: 0 }, 0, bytes("y"));
  expect(spares).toContain(statSync(join(dir, "c-0.log")).ino);
  expect(readFileSync(join(dir, "c-0.log"), "utf8")).toBe("y");
});

test.skipIf(process.getuid?.() !== 0)("on a full disk an append stores all of its chunk or none: the count never runs ahead of the file", () => {
  const dir = join(root, "small");
  mkdirSync(dir);
  const mount = spawnSync("mount", ["-t", "tmpfs", "-o", "size=1m", "tmpfs", dir]);
  expect(mount.status).toBe(0);
  try {
    const logs = new LiveLogs(join(dir, "live"), openObjectStore(`posix:${join(root, "objects2")}`), 64 * 1024 * 1024, false);
    const key = { run: "r", attempt: "a", step: 0 };
    const chunk = new Uint8Array(300 * 1024 + 7).fill(120);
    let stored = 0;
    let refused: unknown;
    for (let i = 0; i < 10 && !refused; i++) {
      try {
        stored = logs.append(key, stored, chunk);
      } catch (e) {
        refused = e;
      }
    }
    expect(refused).toBeInstanceOf(DiskFullError);
    expect((refused as Error).message).toContain("coordinator out of disk space");
    expect(logs.stored(key)).toBe(stored);
    expect(statSync(join(dir, "live", "a-0.log")).size).toBe(stored);
  } finally {
    spawnSync("umount", ["-l", dir]);
  }
});

test("an attempt's logs released while one is still uploading: its closed fd is not closed again", async () => {
  // The store takes its time (an S3 retrying a refused connection): the attempt ends meanwhile (a
  // step's timestamps upload is not waited for), and release must leave the upload's closed fd alone.
  // A second close failed with EBADF, which escaped the result's handling and left the task running.
  const store = openObjectStore(`posix:${join(root, "objects3")}`);
  let upload: () => void = () => {};
  const slow = Object.assign(Object.create(store), {
    putFile: (...args: Parameters<typeof store.putFile>) =>
      new Promise<void>((resolve) => {
        upload = resolve;
      }).then(() => store.putFile(...args)),
  });
  const logs = new LiveLogs(join(root, "live3"), slow, 1024 * 1024, false);
  const key = { run: "r", attempt: "a", step: 0 };
  logs.append(key, 0, new TextEncoder().encode("hello\n"));
  const stored = logs.finalize(key, 6);
  expect(() => logs.release(key)).not.toThrow();
  expect(logs.append(key, 0, new TextEncoder().encode("hello\nmore\n"))).toBe(6);
  upload();
  expect((await stored).size).toBe(6);
});

test("a step's end sent again (the agent resends it after a reconnect) gets the first one's stored log, before and after it is stored", async () => {
  const logs = new LiveLogs(join(root, "live4"), openObjectStore(`posix:${join(root, "objects4")}`), 1024 * 1024, false);
  const key = { run: "r", attempt: "a", step: 0 };
  const first = logs.finalize(key, 6);
  const again = logs.finalize(key, 6);
  logs.append(key, 0, new TextEncoder().encode("hello\n"));
  const stored = await first;
  expect(await again).toEqual(stored);
  // once stored the live file is gone: the end sent once more must not wait for bytes on a new, empty one
  const late = await Promise.race([logs.finalize(key, 6), Bun.sleep(1000).then(() => "waiting")]);
  expect(late).toEqual(stored);
});
