import { expect, test } from "bun:test";
import { closeSync, fsyncSync, openSync, writeSync } from "node:fs";
import { join } from "node:path";
import { directCalls } from "../../coordinator/store/page-cache-calls.ts";
import { mapCached } from "../../coordinator/store/mapped-range.ts";
import { cachedBytes } from "../helpers/page-cache.ts";
import { scratchDirs } from "../helpers/scratch.ts";

const { root } = scratchDirs("drover-mapped-range-");

test.skipIf(process.platform !== "linux")(
  "a cached range of a file is read in place, from any offset; one not cached is not mapped",
  () => {
    const path = join(root, "file");
    const fd = openSync(path, "w+");
    const data = new Uint8Array(3 * 1024 * 1024 + 123).map((_, i) => (i * 7) % 251);
    writeSync(fd, data);
    const mapped = mapCached(fd, 5_000, data.length)!;
    expect(mapped.bytes).toEqual(data.subarray(5_000));
    mapped.unmap();
    expect(mapCached(fd, 10, 10)).toBeNull();
    // written back and dropped: reading it in place would read the disk on the caller's thread
    fsyncSync(fd);
    directCalls(fd)!.drop(0, 0);
    expect(cachedBytes(path)).toBe(0);
    expect(mapCached(fd, 0, data.length)).toBeNull();
    closeSync(fd);
  },
);
