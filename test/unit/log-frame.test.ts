import { expect, test } from "bun:test";
import { decodeLogChunk, encodeLogChunk, MalformedFrameError } from "../../shared/protocol/index.ts";

test("log chunks round-trip with their attempt, step and offset", () => {
  const chunk = { attempt: "01JATTEMPT", step: 3, offset: 2 ** 40 + 5, data: new Uint8Array([0, 1, 2, 255]) };
  expect(decodeLogChunk(encodeLogChunk(chunk))).toEqual(chunk);
});

test("truncated, versionless and negative-offset frames are refused", () => {
  expect(() => decodeLogChunk(new Uint8Array([1, 2, 3]))).toThrow(MalformedFrameError);
  const good = encodeLogChunk({ attempt: "x", step: 0, offset: 0, data: new Uint8Array(8) });
  expect(() => decodeLogChunk(Uint8Array.from([7, ...good.subarray(1)]))).toThrow(MalformedFrameError);
  const negative = encodeLogChunk({ attempt: "x", step: 0, offset: -1, data: new Uint8Array(1) });
  expect(() => decodeLogChunk(negative)).toThrow(MalformedFrameError);
  expect(() => decodeLogChunk(Uint8Array.from([1, 200, 65, 65, 65, 65, 65, 65, 65, 65, 65, 65, 65]))).toThrow(MalformedFrameError);
});
