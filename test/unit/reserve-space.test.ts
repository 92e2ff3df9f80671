import { expect, test } from "bun:test";
import { closeSync, openSync, readdirSync, readFileSync, statSync, writeSync } from "node:fs";
import { join } from "node:path";
import tar from "tar-stream";
import { extractArchive } from "../../agent/archive/extract.ts";
import { FileTail } from "../../agent/logs/tail.ts";
import { LiveLogs } from "../../coordinator/logs/live-logs.ts";
import { openObjectStore } from "../../coordinator/store/open.ts";
import { AppendReservation } from "../../shared/reserve-space.ts";
import { scratchDirs } from "../helpers/scratch.ts";

const KiB = 1024;
const MiB = 1024 * KiB;
const dirs = scratchDirs("drover-reserve-");
/** Bytes the file holds on disk (st_blocks counts 512-byte units). */
const onDisk = (path: string) => statSync(path).blocks * 512;

test("space is reserved past the end of a growing file, its size untouched, and given back on release", () => {
  const path = join(dirs.fresh("grow"), "log");
  const fd = openSync(path, "a");
  try {
    const reservation = new AppendReservation(fd);
    writeSync(fd, new Uint8Array(100 * KiB));
    reservation.grow(100 * KiB);
    // small files are left alone
    expect(onDisk(path)).toBeLessThan(200 * KiB);
    writeSync(fd, new Uint8Array(2 * MiB - 100 * KiB));
    reservation.grow(2 * MiB);
    expect(statSync(path).size).toBe(2 * MiB);
    // as far ahead as the file is long
    expect(onDisk(path)).toBeGreaterThanOrEqual(4 * MiB);
    writeSync(fd, new Uint8Array(MiB).fill(7));
    reservation.grow(3 * MiB);
    expect(statSync(path).size).toBe(3 * MiB);
    reservation.release(3 * MiB);
    expect(statSync(path).size).toBe(3 * MiB);
    expect(onDisk(path)).toBeLessThan(3 * MiB + 64 * KiB);
    expect(
      readFileSync(path)
        .subarray(2 * MiB)
        .every((b) => b === 7),
    ).toBe(true);
  } finally {
    closeSync(fd);
  }
});

// [bytes written, known end, where the reservation should stop]: as far ahead as the file is long, capped
for (const [written, end, until] of [
  [2 * MiB, 3 * MiB, 3 * MiB],
  [40 * MiB, undefined, 72 * MiB],
] as const) {
  test(`a ${written / MiB} MiB file${end ? ` ending at ${end / MiB} MiB` : ""} is reserved up to ${until / MiB} MiB`, () => {
    const path = join(dirs.fresh("ahead"), "file");
    const fd = openSync(path, "a");
    try {
      writeSync(fd, new Uint8Array(written));
      new AppendReservation(fd, end).grow(written);
      expect(onDisk(path)).toBeGreaterThanOrEqual(until);
      expect(onDisk(path)).toBeLessThan(until + 64 * KiB);
    } finally {
      closeSync(fd);
    }
  });
}

test("a stored live log keeps nothing reserved, nor does one whose writer stopped after reserving", async () => {
  const dir = dirs.fresh("live");
  const store = openObjectStore(`posix:${join(dir, "objects")}`, { fsync: false });
  const logs = new LiveLogs(join(dir, "live"), store, 100 * MiB, false);
  const key = { run: "r", attempt: "a", step: 0 };
  const piece = new Uint8Array(256 * KiB).fill(120);
  for (let offset = 0; offset < 3 * MiB; offset += piece.length) logs.append(key, offset, piece);
  const live = logs.live(key)!;
  expect(onDisk(live.path)).toBeGreaterThan(4 * MiB);
  const { object, size } = await logs.finalize(key, 3 * MiB);
  expect(size).toBe(3 * MiB);
  const stored = join(dir, "objects", object!);
  expect(statSync(stored).size).toBe(3 * MiB);
  expect(onDisk(stored)).toBeLessThan(3 * MiB + 64 * KiB);

  // A coordinator that stopped mid-log left a reservation; the one that finishes the log frees it too.
  const other = { run: "r", attempt: "b", step: 0 };
  for (let offset = 0; offset < 2 * MiB; offset += piece.length) logs.append(other, offset, piece);
  const restarted = new LiveLogs(join(dir, "live"), store, 100 * MiB, false);
  const final = await restarted.finalize(other, 2 * MiB);
  expect(onDisk(join(dir, "objects", final.object!))).toBeLessThan(2 * MiB + 64 * KiB);
  // nothing left but the spare files' dir
  expect(readdirSync(join(dir, "live"))).toEqual([".spare"]);
});

test("the agent reserves space ahead of a step writing its output, and reads every byte", () => {
  const path = join(dirs.fresh("tail"), "out");
  const writer = openSync(path, "w");
  let seen = 0;
  const tail = new FileTail(path, { onSize: (size) => (seen = size) });
  try {
    writeSync(writer, new Uint8Array(3 * MiB));
    tail.finish();
    expect(seen).toBe(3 * MiB);
    expect(onDisk(path)).toBeGreaterThanOrEqual(6 * MiB);
  } finally {
    closeSync(writer);
  }
});

/** A plain tar of one file entry, as bytes. */
async function tarOf(name: string, content: Uint8Array): Promise<Uint8Array> {
  const pack = tar.pack();
  pack.entry({ name, size: content.length }, Buffer.from(content));
  pack.finalize();
  return new Uint8Array(await new Response(pack as unknown as ReadableStream).arrayBuffer());
}

const streamOf = (bytes: Uint8Array) => new Blob([bytes as Uint8Array<ArrayBuffer>]).stream();

test("extracted large files hold what they are, with space reserved only as far as their data goes", async () => {
  const dest = dirs.fresh("extract");
  const content = new Uint8Array(5 * MiB).map((_, i) => i % 251);
  await extractArchive(streamOf(await tarOf("big.bin", content)), dest);
  const path = join(dest, "big.bin");
  expect(Buffer.from(readFileSync(path)).equals(Buffer.from(content))).toBe(true);
  expect(onDisk(path)).toBeLessThan(5 * MiB + 64 * KiB);

  // A header claiming 1 GiB followed by 4 MiB: the partial file reserves about what arrived, not the claim.
  const archive = await tarOf("claims.bin", new Uint8Array(4 * MiB).fill(1));
  const header = archive.subarray(0, 512);
  header.set(new TextEncoder().encode(`${(1024 * MiB).toString(8).padStart(11, "0")}\0`), 124);
  header.fill(32, 148, 156);
  const sum = header.reduce((a, b) => a + b, 0);
  header.set(new TextEncoder().encode(`${sum.toString(8).padStart(6, "0")}\0 `), 148);
  const hostile = dirs.fresh("claims");
  await expect(extractArchive(streamOf(archive.subarray(0, 512 + 4 * MiB)), hostile)).rejects.toThrow();
  const partial = join(hostile, "claims.bin");
  expect(statSync(partial).size).toBe(4 * MiB);
  expect(onDisk(partial)).toBeLessThanOrEqual(8 * MiB);
});
