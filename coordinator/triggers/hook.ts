import { readBounded } from "../../shared/bounded-body.ts";
import { DroverError } from "../../shared/errors.ts";
import { sameSecret, signature } from "../secrets/digests.ts";

const MAX_BODY = 5 * 1024 * 1024;
const MAX_VARIABLES = 64;
const MAX_VALUE = 4096;

/** The receiver needs no token, so its body is bounded here rather than by the server's multi-GiB upload limit. */
export const readHookBody = (req: Request): Promise<Uint8Array> =>
  readBounded(req, MAX_BODY, () => new DroverError("too_large", `webhook bodies are limited to 5 MiB (${MAX_BODY} bytes)`));

/** GitHub's scheme: the signature arrives in `X-Hub-Signature-256`. */
export const signatureMatches = (secret: string, body: Uint8Array, header: string | undefined) =>
  sameSecret(header ?? "", signature(secret, body));

/** Top-level string fields of a JSON object payload become `HOOK_<FIELD>` variables; anything else is ignored. */
export function hookVariables(body: Uint8Array): Record<string, string> {
  let payload: unknown;
  try {
    payload = JSON.parse(new TextDecoder().decode(body));
  } catch {
    return {};
  }
  if (!payload || typeof payload !== "object" || Array.isArray(payload)) return {};
  const variables: Record<string, string> = {};
  let count = 0;
  for (const [key, value] of Object.entries(payload)) {
    if (typeof value !== "string" || value.length > MAX_VALUE) continue;
    variables[`HOOK_${key.toUpperCase().replace(/[^A-Z0-9_]/g, "_")}`] = value;
    if (++count === MAX_VARIABLES) break;
  }
  return variables;
}
