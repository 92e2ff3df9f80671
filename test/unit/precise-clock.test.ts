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
