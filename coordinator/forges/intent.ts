import type { DeliveryHeaders } from "./detect.ts";
import { githubIntent } from "./github-source.ts";
import { gitlabIntent } from "./gitlab-source.ts";
import { type HookIntent, InvalidPayload } from "./outcome.ts";

/**
 * What an authenticated delivery asks for. Pings answer before their body is looked at (an organisation's
 * ping has no repository); a body that is not JSON or not the event's shape throws InvalidPayload.
 */
export function deliveryIntent(headers: DeliveryHeaders & { deliveryId: string }, body: Uint8Array): HookIntent {
  if (headers.event === "ping") return { kind: "ignore", reason: "ping" };
  let payload: unknown;
  try {
    payload = JSON.parse(new TextDecoder().decode(body));
  } catch {
    throw new InvalidPayload("the body is not JSON (a GitHub webhook's content type must be application/json)");
  }
  const trigger = `webhook:${headers.deliveryId}`;
  return headers.forge === "gitlab"
    ? gitlabIntent(headers.event, payload, trigger)
    : githubIntent(headers.forge, headers.event, payload, trigger);
}
