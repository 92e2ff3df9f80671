import { expect, test } from "bun:test";
import { closeSync, fsyncSync, openSync, writeSync } from "node:fs";
import { join } from "node:path";
import { LiveFileReads } from "../../coordinator/runs/live-file-reads.ts";
import { directCalls } from "../../coordinator/store/page-cache-calls.ts";
import { cachedBytes } from "../helpers/page-cache.ts";
import { waitFor } from "../helpers/processes.ts";
import { scratchDirs } from "../helpers/scratch.ts";

const { root } = scratchDirs("drover-live-file-reads-");
const MiB = 1024 * 1024;

test("a reader gets the live file's bytes whether they are cached (mapped) or not, and leaves none of them cached", async () => {
  const path = join(root, "log");
  const fd = openSync(path, "w");
  const size = 20 * MiB + 12_345;
  const data = Buffer.alloc(size).fill(Buffer.from(Array.from({ length: 251 }, (_, i) => i)));
  writeSync(fd, data);
  fsyncSync(fd);
  const reads = new LiveFileReads();
  const pieces: Buffer[] = [];
  let at = 0;
  while (at < size) {
    // from halfway on, nothing is cached: read from the disk on the thread pool instead of mapped
    if (at >= size / 2 && at - pieces.at(-1)!.length < size / 2) directCalls(fd)!.drop(0, 0);
    const piece = await reads.read(path, at, size, at);
    // a piece is valid until the next read
    pieces.push(Buffer.from(piece));
    at += piece.length;
  }
  closeSync(fd);
  expect(Buffer.concat(pieces).equals(data)).toBe(true);
  reads.close(Number.POSITIVE_INFINITY);
  await waitFor("what was read to leave the cache", () => (cachedBytes(path) < MiB ? true : undefined), 5_000);
});
