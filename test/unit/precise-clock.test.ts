import { expect, test } from "bun:test";
import { preciseNow } from "../../shared/precise-clock.ts";

test("preciseNow is in Date.now()'s millisecond, never goes back, and has a fraction", () => {
  let last = 0;
  let fractions = 0;
  for (let i = 0; i < 10_000; i++) {
    const before = Date.now();
    const at = preciseNow();
    const after = Date.now();
    expect(Math.floor(at)).toBeGreaterThanOrEqual(before);
    expect(Math.floor(at)).toBeLessThanOrEqual(after);
    expect(at).toBeGreaterThanOrEqual(last);
    if (!Number.isInteger(at)) fractions++;
    last = at;
  }
  expect(fractions).toBeGreaterThan(9_000);
});

test("when the wall clock jumps, preciseNow follows it into its millisecond and keeps a fraction", () => {
  const wallClock = Date.now;
  try {
    for (const jump of [5_000, -5_000]) {
      Date.now = () => wallClock() + jump;
      const before = Date.now();
      const at = preciseNow();
      expect(Math.floor(at) - before).toBeLessThanOrEqual(1);
      expect(Math.floor(at)).toBeGreaterThanOrEqual(before);
      // put on the millisecond's edge, the first stamp after a jump was a whole one
      expect(Number.isInteger(at)).toBe(false);
    }
  } finally {
    Date.now = wallClock;
  }
});
