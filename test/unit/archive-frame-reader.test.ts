import { expect, test } from "bun:test";
import { decompressFrames } from "../../agent/archive/frame-reader.ts";
import { putStored, sealStored, storedRoom } from "../../agent/archive/stored-frames.ts";

// Extraction reads the archive's zstd frames as they arrive: stored frames' content is handed on as views of
// the pieces received (no copy), other frames are decompressed whole, and whatever the pieces' boundaries,
// the content comes out whole and in order.

const KiB = 1024;

function random(size: number): Uint8Array {
  const bytes = new Uint8Array(size);
  for (let at = 0; at < size; at += 65536) crypto.getRandomValues(bytes.subarray(at, Math.min(size, at + 65536)));
  return bytes;
}

function stored(content: Uint8Array): Buffer {
  const chunk = new Uint8Array(storedRoom(content.length));
  putStored(chunk, 0, content);
  return Buffer.from(sealStored(chunk, content.length));
}

/** A block's 3-byte header: its size, type (0 raw, 1 RLE, 2 compressed) and whether it is the frame's last. */
function blockHeader(size: number, type: number, last: boolean): Uint8Array {
  const h = (size << 3) | (type << 1) | (last ? 1 : 0);
  return new Uint8Array([h & 0xff, (h >> 8) & 0xff, (h >> 16) & 0xff]);
}

/** Block types of a frame ("R" raw, "r" RLE, "C" compressed), to check a sample has the shape a test needs. */
function blockTypes(frame: Uint8Array): string {
  const d = frame[4]!;
  const single = (d >> 5) & 1;
  let p = 5 + (single ? 0 : 1) + [0, 1, 2, 4][d & 3]! + [single, 2, 4, 8][d >> 6]!;
  let types = "";
  for (;;) {
    const h = frame[p]! | (frame[p + 1]! << 8) | (frame[p + 2]! << 16);
    const type = (h >> 1) & 3;
    types += "RrC?"[type];
    p += 3 + (type === 1 ? 1 : h >>> 3);
    if (h & 1) return types;
  }
}

/** `bytes` cut into pieces of the sizes given, in turn, each in a buffer of its own. */
function piecesOf(bytes: Uint8Array, sizes: number[]): Uint8Array[] {
  const pieces: Uint8Array[] = [];
  for (let at = 0, i = 0; at < bytes.length; i++) {
    const n = Math.min(sizes[i % sizes.length]!, bytes.length - at);
    pieces.push(bytes.slice(at, at + n));
    at += n;
  }
  return pieces;
}

async function read(pieces: Uint8Array[]): Promise<Uint8Array[]> {
  const [head, ...rest] = pieces;
  const input = (async function* () {
    yield* rest;
  })();
  const out: Uint8Array[] = [];
  for await (const piece of decompressFrames(head!, input)) out.push(piece);
  return out;
}

const joined = (parts: Uint8Array[]) => Buffer.concat(parts);

test("stored frames come out as views of the pieces received, whatever their boundaries", async () => {
  const contents = [random(1024 * KiB), random(300 * KiB + 7), random(5)];
  const archive = joined(contents.map(stored));
  for (const sizes of [[archive.length], [64 * KiB], [1, 2, 3, 5, 8, 13, 100_000], [131_075]]) {
    const pieces = piecesOf(archive, sizes);
    const out = await read(pieces);
    expect(joined(out).equals(joined(contents))).toBe(true);
    const received = new Set(pieces.map((p) => p.buffer));
    expect(out.every((piece) => received.has(piece.buffer))).toBe(true);
  }
});

test("compressed frames, frames of raw then compressed blocks and RLE blocks come out whole and in order", async () => {
  const block = random(64 * KiB);
  const noisy = joined([0, 1, 2, 3].map((x) => block.map((b) => b ^ x)));
  const text = new TextEncoder().encode("export const answer = compute(42);\n".repeat(8000));
  const mixed = joined([noisy, text]);
  const mixedFrame = Bun.zstdCompressSync(mixed, { level: 1 });
  expect(blockTypes(mixedFrame)).toStartWith("RR");
  expect(blockTypes(mixedFrame)).toContain("C");
  // a stored frame whose second block is RLE: 40 KiB of 0x2a
  const raw = random(100);
  const rle = joined([
    stored(raw).subarray(0, 9),
    blockHeader(100, 0, false),
    raw,
    blockHeader(40 * KiB, 1, true),
    new Uint8Array([0x2a]),
  ]);
  rle.writeUInt32LE(100 + 40 * KiB, 5);
  expect(blockTypes(rle)).toBe("Rr");
  const zeros = new Uint8Array(300_000);
  const contents = [mixed, text, raw, new Uint8Array(40 * KiB).fill(0x2a), zeros, random(200 * KiB)];
  const archive = joined([mixedFrame, Bun.zstdCompressSync(text), rle, Bun.zstdCompressSync(zeros), stored(contents[5]!)]);
  for (const sizes of [[archive.length], [7, 4096, 3], [65_536]]) {
    expect(joined(await read(piecesOf(archive, sizes))).equals(joined(contents))).toBe(true);
  }
});

test("a frame with a checksum is checked, raw blocks or not", async () => {
  const content = random(300 * KiB);
  const zstd = Bun.spawnSync(["zstd", "-1", "--check", "-c"], { stdin: content });
  const frame = new Uint8Array(zstd.stdout);
  expect(blockTypes(frame)).toBe("RRR");
  expect(joined(await read(piecesOf(frame, [50_000]))).equals(Buffer.from(content))).toBe(true);
  frame[frame.length - 1]! ^= 0xff;
  await expect(read(piecesOf(frame, [50_000]))).rejects.toThrow();
});

test("a cut stream and a stored frame holding other than it declares fail", async () => {
  const archive = joined([stored(random(200 * KiB)), stored(random(200 * KiB))]);
  await expect(read(piecesOf(archive.subarray(0, archive.length - 10), [64 * KiB]))).rejects.toThrow("cut short");
  await expect(read(piecesOf(archive.subarray(0, 3), [64 * KiB]))).rejects.toThrow("cut short");
  const more = stored(random(1000));
  more.writeUInt32LE(999, 5);
  await expect(read([more])).rejects.toThrow("more than the 999 bytes it declares");
  const fewer = stored(random(1000));
  fewer.writeUInt32LE(1001, 5);
  await expect(read([fewer])).rejects.toThrow("declares 1001 bytes and holds 1000");
});
