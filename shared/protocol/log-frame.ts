/**
 * Log bytes travel in binary frames so that output is never re-encoded:
 * [u8 version][u8 attempt id length][attempt id][u16 step][f64 offset][bytes].
 * The offset (a byte position, exact up to 2^53) doubles as the sequence number:
 * applying a chunk twice is harmless and a gap is detectable.
 */
const FRAME_VERSION = 1;
const encoder = new TextEncoder();
const decoder = new TextDecoder();

export interface LogChunk {
  attempt: string;
  step: number;
  offset: number;
  data: Uint8Array;
}

/** A frame whose header is written and whose `data` view is left for the caller to fill (e.g. straight from a file). */
export function logChunkFrame(attempt: string, step: number, offset: number, length: number): { frame: Uint8Array; data: Uint8Array } {
  const id = encoder.encode(attempt);
  const head = 2 + id.length + 2 + 8;
  const frame = new Uint8Array(head + length);
  const view = new DataView(frame.buffer);
  frame[0] = FRAME_VERSION;
  frame[1] = id.length;
  frame.set(id, 2);
  view.setUint16(2 + id.length, step);
  view.setFloat64(4 + id.length, offset);
  return { frame, data: frame.subarray(head) };
}

/** Points a frame made by logChunkFrame at another offset, so one buffer can carry chunk after chunk. */
export function setLogChunkOffset(frame: Uint8Array, offset: number): void {
  new DataView(frame.buffer, frame.byteOffset).setFloat64(4 + frame[1]!, offset);
}

export function encodeLogChunk(chunk: LogChunk): Uint8Array {
  const { frame, data } = logChunkFrame(chunk.attempt, chunk.step, chunk.offset, chunk.data.length);
  data.set(chunk.data);
  return frame;
}

export class MalformedFrameError extends Error {}

export function decodeLogChunk(frame: Uint8Array): LogChunk {
  if (frame.length < 12 || frame[0] !== FRAME_VERSION) throw new MalformedFrameError("bad log frame header");
  const idLength = frame[1]!;
  const head = 2 + idLength + 2 + 8;
  if (idLength === 0 || frame.length < head) throw new MalformedFrameError("truncated log frame");
  const view = new DataView(frame.buffer, frame.byteOffset, frame.byteLength);
  const offset = view.getFloat64(4 + idLength);
  if (!Number.isSafeInteger(offset) || offset < 0) throw new MalformedFrameError("bad log offset");
  return {
    attempt: decoder.decode(frame.subarray(2, 2 + idLength)),
    step: view.getUint16(2 + idLength),
    offset,
    data: frame.subarray(head),
  };
}

/**
 * A step's line timestamps travel as a second log stream of the same step: same frames, acks, spool
 * and resend, its step number with this bit set (a task has far fewer steps). Its bytes are text
 * records `offset ms\n`: the output from byte `offset` on was read at `ms` (ms since the epoch).
 */
export const STAMPS_STREAM = 0x8000;
export const stampsStream = (step: number) => step | STAMPS_STREAM;
export const isStampsStream = (stream: number) => (stream & STAMPS_STREAM) !== 0;
/** The step a stream (its log or its timestamps) belongs to. */
export const streamStep = (stream: number) => stream & ~STAMPS_STREAM;
