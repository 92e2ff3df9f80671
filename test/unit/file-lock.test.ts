import { expect, test } from "bun:test";
import { join } from "node:path";
import { FileLock } from "../../agent/checkout/lock.ts";
import { scratchDirs } from "../helpers/scratch.ts";

const { fresh } = scratchDirs("drover-file-lock-");

test("a lock held elsewhere is waited for until the signal aborts, and not at all when it aborted before", async () => {
  const path = join(fresh("lock"), "mirror.lock");
  const held = (await FileLock.acquire(path, 0))!;
  expect(held).not.toBeNull();
  try {
    // aborted while it waits: it gives up then, long before its 60 s
    const later = new AbortController();
    const waiting = FileLock.acquire(path, 60_000, later.signal);
    setTimeout(() => later.abort(new Error("the attempt was cancelled")), 100);
    await expect(waiting).rejects.toThrow("gave up waiting for");
    // aborted before it began (a cancel that came while the checkout was getting ready): it does not wait at all
    const before = new AbortController();
    before.abort(new Error("the attempt was cancelled"));
    await expect(FileLock.acquire(path, 60_000, before.signal)).rejects.toThrow("gave up waiting for");
  } finally {
    await held.release();
  }
  // free, but asked for with an aborted signal: not taken, and left free
  const aborted = new AbortController();
  aborted.abort(new Error("the attempt was cancelled"));
  await expect(FileLock.acquire(path, 0, aborted.signal)).rejects.toThrow("gave up waiting for");
  const again = await FileLock.acquire(path, 0);
  expect(again).not.toBeNull();
  await again!.release();
}, 10_000);
