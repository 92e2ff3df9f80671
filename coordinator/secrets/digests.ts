import { createHash, createHmac, timingSafeEqual } from "node:crypto";

/** Tokens and agent credentials are stored as this hash, never in the clear. */
export const tokenHash = (token: string) => createHash("sha256").update(token).digest("hex");

/** Compares a presented secret without leaking, through timing, how much of it was right. */
export function sameSecret(given: string, expected: string): boolean {
  const x = Buffer.from(given);
  const y = Buffer.from(expected);
  return x.length === y.length && timingSafeEqual(x, y);
}

/** GitHub's scheme, used both ways: `sha256=<hex HMAC-SHA256 of the raw body>`. */
export const signature = (secret: string, body: string | Uint8Array) =>
  `sha256=${createHmac("sha256", secret).update(body).digest("hex")}`;
