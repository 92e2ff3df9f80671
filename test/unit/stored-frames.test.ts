import { expect, test } from "bun:test";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { extractArchive } from "../../agent/archive/extract.ts";
import { packArchive } from "../../agent/archive/pack.ts";
import { putStored, sealStored, storedRoom, unstore } from "../../agent/archive/stored-frames.ts";
import { scratchDirs } from "../helpers/scratch.ts";

const { fresh } = scratchDirs("drover-stored-frames-");
const MiB = 1024 * 1024;

function random(size: number): Uint8Array {
  const bytes = new Uint8Array(size);
  for (let at = 0; at < size; at += 65536) crypto.getRandomValues(bytes.subarray(at, Math.min(size, at + 65536)));
  return bytes;
}

test("a stored frame put in pieces reads back with zstd, and unstores to its content", () => {
  for (const length of [0, 1, 131071, 131072, 131073, 700_000, MiB]) {
    const content = random(length);
    const chunk = new Uint8Array(storedRoom(MiB));
    // in uneven pieces, as tar-stream hands them over
    for (let at = 0; at < length; at += 50_000) putStored(chunk, at, content.subarray(at, Math.min(length, at + 50_000)));
    const frame = sealStored(chunk, length);
    expect(frame.length).toBe(storedRoom(length));
    expect(Buffer.from(Bun.zstdDecompressSync(frame)).equals(Buffer.from(content))).toBe(true);
    expect(Buffer.from(unstore(chunk, length)).equals(Buffer.from(content))).toBe(true);
  }
});

/** The frames of a zstd stream: how many are stored (all blocks raw, as storedFrame writes them) and how many not. */
function frameKinds(archive: Uint8Array): { stored: number; other: number } {
  const kinds = { stored: 0, other: 0 };
  for (let at = 0; at < archive.length; ) {
    const descriptor = archive[at + 4]!;
    let p = at + 5 + ((descriptor >> 5) & 1 ? 0 : 1) + [0, 1, 2, 4][descriptor & 3]! + [(descriptor >> 5) & 1, 2, 4, 8][descriptor >> 6]!;
    let raw = true;
    for (;;) {
      const block = archive[p]! | (archive[p + 1]! << 8) | (archive[p + 2]! << 16);
      const type = (block >> 1) & 3;
      raw &&= type === 0;
      p += 3 + (type === 1 ? 1 : block >>> 3);
      if (block & 1) break;
    }
    at = p + ((descriptor >> 2) & 1 ? 4 : 0);
    if (raw && descriptor === 0b1010_0000) kinds.stored++;
    else kinds.other++;
  }
  return kinds;
}

test("chunks that do not shrink are stored, compressing resumes where bytes shrink again, and zstd reads the archive", async () => {
  const src = fresh("src");
  const files = {
    "a.bin": random(8 * MiB),
    "b.txt": new TextEncoder().encode("export const answer = compute(42);\n".repeat(150_000)),
    "c.bin": random(3 * MiB + 5),
  };
  for (const [name, bytes] of Object.entries(files)) writeFileSync(join(src, name), bytes);
  const parts: Uint8Array[] = [];
  for await (const frame of packArchive(src, Object.keys(files)).body) parts.push(frame.slice());
  const archive = Buffer.concat(parts);
  const kinds = frameKinds(archive);
  // a.bin's first chunks are compressed (found not to shrink while the next are filled), the rest stored
  expect(kinds.stored).toBeGreaterThanOrEqual(4);
  // b.txt's 5 MiB went back to compression
  expect(kinds.other).toBeGreaterThanOrEqual(4);
  expect(archive.length).toBeLessThan(12 * MiB);
  const path = join(fresh("archive"), "a.tar.zst");
  writeFileSync(path, archive);
  const zstd = Bun.spawnSync(["zstd", "-t", "-q", path]);
  expect(zstd.exitCode).toBe(0);
  const dest = fresh("dest");
  expect(await extractArchive(new Blob([archive]).stream(), dest)).toBe(3);
  for (const name of Object.keys(files)) expect(readFileSync(join(dest, name)).equals(readFileSync(join(src, name)))).toBe(true);
});
