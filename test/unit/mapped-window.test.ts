import { expect, test } from "bun:test";
import { closeSync, fsyncSync, openSync, writeSync } from "node:fs";
import { join } from "node:path";
import { directCalls } from "../../coordinator/store/page-cache-calls.ts";
import { MappedWindow } from "../../coordinator/store/mapped-window.ts";
import { cachedBytes } from "../helpers/page-cache.ts";
import { scratchDirs } from "../helpers/scratch.ts";

const { root } = scratchDirs("drover-mapped-window-");

test.skipIf(process.platform !== "linux")(
  "a cached range of a file is read in place, from any offset; one not cached is not mapped",
  () => {
    const path = join(root, "file");
    const fd = openSync(path, "w+");
    const data = new Uint8Array(3 * 1024 * 1024 + 123).map((_, i) => (i * 7) % 251);
    writeSync(fd, data);
    const window = MappedWindow.open(4 * 1024 * 1024)!;
    expect(window.map(fd, 5_000, data.length)).toEqual(data.subarray(5_000));
    // the next piece replaces it, a shorter one too
    expect(window.map(fd, 1, 4_097)).toEqual(data.subarray(1, 4_097));
    expect(window.map(fd, 10, 10)).toBeNull();
    // larger than the window: read another way
    expect(window.map(fd, 0, 5 * 1024 * 1024)).toBeNull();
    // written back and dropped: reading it in place would read the disk on the caller's thread
    fsyncSync(fd);
    directCalls(fd)!.drop(0, 0);
    expect(cachedBytes(path)).toBe(0);
    expect(window.map(fd, 0, data.length)).toBeNull();
    window.close();
    closeSync(fd);
  },
);
