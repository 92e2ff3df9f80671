import { afterEach, expect, spyOn, test } from "bun:test";
import * as crypto from "node:crypto";
import { sameSecret } from "../../coordinator/secrets/digests.ts";

const compare = spyOn(crypto, "timingSafeEqual");
afterEach(() => compare.mockClear());

test("sameSecret compares two 32-byte digests, whatever the lengths given: no early answer on a length that differs", () => {
  const expected = "s3cret-admin-token";
  for (const given of ["", "s", "s3cret-admin-toke", "s3cret-admin-token!", "x".repeat(10_000), expected]) {
    compare.mockClear();
    expect(sameSecret(given, expected)).toBe(given === expected);
    expect(compare).toHaveBeenCalledTimes(1);
    const [a, b] = compare.mock.calls[0]! as unknown as [Buffer, Buffer];
    expect([a.length, b.length]).toEqual([32, 32]);
    // the digests, not the secrets themselves
    expect(a.equals(crypto.createHash("sha256").update(given).digest())).toBe(true);
  }
});
