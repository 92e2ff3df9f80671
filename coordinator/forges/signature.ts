import { createHmac, timingSafeEqual } from "node:crypto";
import { sameSecret } from "../secrets/digests.ts";
import type { Forge } from "./detect.ts";

const HEX_SHA256 = /^[0-9a-f]{64}$/i;

/**
 * Whether the delivery carries the project's secret in its forge's way: an HMAC-SHA256 of the raw body
 * (GitHub `sha256=<hex>`, Gitea and Forgejo bare hex) or, for GitLab, the secret itself as a token.
 * Both sides are reduced to 32-byte digests, so the comparison takes the same time whatever was sent.
 */
export function credentialMatches(forge: Forge, secret: string, body: Uint8Array, credential: string | null): boolean {
  if (credential === null) return false;
  if (forge === "gitlab") return sameSecret(credential, secret);
  const hex = forge === "github" ? credential.replace(/^sha256=/, "") : credential;
  if (!HEX_SHA256.test(hex)) return false;
  return timingSafeEqual(Buffer.from(hex, "hex"), createHmac("sha256", secret).update(body).digest());
}

