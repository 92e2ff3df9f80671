export const FORGES = ["github", "gitea", "forgejo", "gitlab"] as const;
export type Forge = (typeof FORGES)[number];

/** What the headers of a delivery say before its body is trusted: which forge sent what, and under which id. */
export interface DeliveryHeaders {
  forge: Forge;
  /** the forge's own event name: `push`, `pull_request`, `Merge Request Hook`… */
  event: string;
  /** the forge's delivery id; null when it sent none */
  deliveryId: string | null;
  /** the signature (GitHub, Gitea, Forgejo) or token (GitLab) as sent; null when missing */
  credential: string | null;
}

type Headers = (name: string) => string | undefined;

/**
 * The forge is recognised by its headers. Forgejo also sends Gitea's headers and Gitea also sends GitHub's,
 * so the most specific is tried first.
 */
export function detectForge(header: Headers): DeliveryHeaders | null {
  const first = (...names: string[]) => names.map((n) => header(n)).find((v) => v !== undefined && v !== "") ?? null;
  const forgejo = header("x-forgejo-event");
  if (forgejo) {
    return {
      forge: "forgejo",
      event: forgejo,
      deliveryId: first("x-forgejo-delivery", "x-gitea-delivery"),
      credential: first("x-forgejo-signature", "x-gitea-signature"),
    };
  }
  const gitea = header("x-gitea-event");
  if (gitea)
    return { forge: "gitea", event: gitea, deliveryId: first("x-gitea-delivery"), credential: first("x-gitea-signature") };
  const gitlab = header("x-gitlab-event");
  if (gitlab) {
    // Idempotency-Key stays the same when GitLab retries a delivery; the event UUID is the older name for it
    return {
      forge: "gitlab",
      event: gitlab,
      deliveryId: first("idempotency-key", "x-gitlab-event-uuid"),
      credential: first("x-gitlab-token"),
    };
  }
  const github = header("x-github-event");
  if (github)
    return { forge: "github", event: github, deliveryId: first("x-github-delivery"), credential: first("x-hub-signature-256") };
  return null;
}
