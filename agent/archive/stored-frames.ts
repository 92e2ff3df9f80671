/**
 * Stored zstd frames: content kept as raw blocks, as zstd itself keeps what it cannot shrink. Random,
 * already compressed or media bytes do not shrink at level 1 either, but finding that out cost zstd
 * 0.3-0.6 ms of a pool thread per MiB, more than half of packing's CPU. A chunk packed while storing is
 * laid out as a stored frame as it is filled, so that it goes out as it is, with no copy; any zstd
 * reader reads it (`zstd -d` included).
 */

/** A zstd frame's first four bytes (little-endian) */
export const FRAME_MAGIC = 0xfd2fb528;
/** zstd's largest block */
const MAX_BLOCK = 128 * 1024;
/** magic, a descriptor (single segment, 4-byte content size), the content size */
const HEADER_BYTES = 9;
export const BLOCK_HEADER_BYTES = 3;

const blocksOf = (length: number) => Math.max(1, Math.ceil(length / MAX_BLOCK));

/** Bytes a stored frame of `length` bytes of content takes (under 4 GiB: its size is a 4-byte field). */
export const storedRoom = (length: number) => HEADER_BYTES + blocksOf(length) * BLOCK_HEADER_BYTES + length;

/** Where content byte `i` of a stored frame lies in the frame. */
const storedAt = (i: number) => HEADER_BYTES + (Math.floor(i / MAX_BLOCK) + 1) * BLOCK_HEADER_BYTES + i;

/** Where content bytes `from` to `from + length` of a stored frame lie in `chunk`: views, one per block they touch. */
export function storedViews(chunk: Uint8Array, from: number, length: number): Uint8Array[] {
  const views: Uint8Array[] = [];
  for (let at = from; at < from + length; ) {
    const n = Math.min(from + length - at, MAX_BLOCK - (at % MAX_BLOCK));
    views.push(chunk.subarray(storedAt(at), storedAt(at) + n));
    at += n;
  }
  return views;
}

/** Copies `data` into `chunk` as the content of a stored frame from content byte `from` on. */
export function putStored(chunk: Uint8Array, from: number, data: Uint8Array): void {
  let at = 0;
  for (const view of storedViews(chunk, from, data.length)) {
    view.set(data.subarray(at, at + view.length));
    at += view.length;
  }
}

/** The stored frame of the `length` bytes put into `chunk`, its headers written: a view of `chunk`. */
export function sealStored(chunk: Uint8Array, length: number): Uint8Array {
  const view = new DataView(chunk.buffer, chunk.byteOffset);
  view.setUint32(0, FRAME_MAGIC, true);
  chunk[4] = 0b1010_0000; // content size in 4 bytes, single segment, no checksum, no dictionary
  view.setUint32(5, length, true);
  const blocks = blocksOf(length);
  for (let i = 0; i < blocks; i++) {
    const size = Math.min(MAX_BLOCK, length - i * MAX_BLOCK);
    // last-block bit, type 0 (raw), size
    const header = (size << 3) | (i === blocks - 1 ? 1 : 0);
    const at = storedAt(i * MAX_BLOCK) - BLOCK_HEADER_BYTES;
    chunk[at] = header & 0xff;
    chunk[at + 1] = (header >> 8) & 0xff;
    chunk[at + 2] = (header >> 16) & 0xff;
  }
  return chunk.subarray(0, storedRoom(length));
}

/** Moves the content put into `chunk` back together at its start (to compress it after all); the content. */
export function unstore(chunk: Uint8Array, length: number): Uint8Array {
  for (let from = 0; from < length; from += MAX_BLOCK) {
    chunk.copyWithin(from, storedAt(from), storedAt(from) + Math.min(MAX_BLOCK, length - from));
  }
  return chunk.subarray(0, length);
}

const SAMPLE_PIECE = 16 * 1024;
/** Bytes sampled from a chunk to judge whether compressing it pays: four pieces, spread over it. */
export const SAMPLE_BYTES = 4 * SAMPLE_PIECE;

/** A sample of the stored content of `chunk` (`length` bytes), gathered into `into` (SAMPLE_BYTES long). */
export function storedSample(chunk: Uint8Array, length: number, into: Uint8Array): Uint8Array {
  const lastBlock = blocksOf(length) - 1;
  let taken = 0;
  for (let i = 0, last = -1; i < 4; i++) {
    // the start of a block, so that the piece is contiguous; a piece twice would compress as a repeat
    const from = Math.round((lastBlock * i) / 3) * MAX_BLOCK;
    if (from === last) continue;
    last = from;
    const n = Math.min(SAMPLE_PIECE, length - from);
    into.set(chunk.subarray(storedAt(from), storedAt(from) + n), taken);
    taken += n;
  }
  return into.subarray(0, taken);
}
