import { expect, test } from "bun:test";
import { readIdleFrame } from "../../shared/protocol/idle-frames.ts";

const welcome = { type: "welcome" as const, agentId: "a1", heartbeatMs: 5000, leaseTtlMs: 15000, resume: [] };

test("a welcome says how much one log upload may carry, or nothing (an older coordinator); anything else there is malformed", () => {
  expect(readIdleFrame({ ...welcome, logUploadBytes: 100 * 1024 * 1024 })).toMatchObject({ logUploadBytes: 100 * 1024 * 1024 });
  expect(readIdleFrame(welcome)).toEqual(welcome);
  for (const logUploadBytes of [0, -1, 1.5, "64M", null]) expect(readIdleFrame({ ...welcome, logUploadBytes })).toBeNull();
});
