import { describe, expect, test } from "bun:test";
import { decodeTime, isValid } from "ulid";
import { newId } from "../../shared/ids.ts";

describe("newId", () => {
  test("makes valid ULIDs of the current time", () => {
    const before = Date.now();
    const id = newId();
    expect(isValid(id)).toBe(true);
    expect(decodeTime(id)).toBeGreaterThanOrEqual(before);
    expect(decodeTime(id)).toBeLessThanOrEqual(Date.now());
  });

  // thousands of ids share a millisecond here, so their last digit passes Z many times: a carry that went wrong unsorts them
  test("ids made in the same millisecond sort in the order made, and never repeat", () => {
    const ids = Array.from({ length: 50_000 }, newId);
    const sameMs = ids.filter((id, i) => i > 0 && decodeTime(id) === decodeTime(ids[i - 1]!)).length;
    expect(sameMs).toBeGreaterThan(0);
    expect(ids).toEqual([...ids].sort());
    expect(new Set(ids).size).toBe(ids.length);
  });

});
