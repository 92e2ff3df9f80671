import { createHash, createHmac, timingSafeEqual } from "node:crypto";

/** Tokens and agent credentials are stored as this hash, never in the clear. */
export const tokenHash = (token: string) => createHash("sha256").update(token).digest("hex");

/**
 * Compares a presented secret without leaking, through timing, how much of it was right or how long
 * the expected one is: both sides are hashed to 32 bytes first, so the comparison always has one length.
 */
export function sameSecret(given: string, expected: string): boolean {
  const digest = (s: string) => createHash("sha256").update(s).digest();
  return timingSafeEqual(digest(given), digest(expected));
}

/** GitHub's scheme, used both ways: `sha256=<hex HMAC-SHA256 of the raw body>`. */
export const signature = (secret: string, body: string | Uint8Array) =>
  `sha256=${createHmac("sha256", secret).update(body).digest("hex")}`;
