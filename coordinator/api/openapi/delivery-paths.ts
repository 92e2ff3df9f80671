import { z } from "@hono/zod-openapi";
import { type Registry, endpoints, json } from "./common.ts";
import { ms } from "./run-schemas.ts";

export const Delivery = z
  .object({
    id: z.string(),
    delivery_id: z.string().nullable().openapi({ description: "the forge's id of the delivery (its X-…-Delivery header)" }),
    forge: z.enum(["github", "gitea", "forgejo", "gitlab"]).nullable(),
    event: z.string().nullable().openapi({ description: "the forge's event name, e.g. `push` or `Merge Request Hook`" }),
    ref: z.string().nullable(),
    received_at: ms,
    outcome: z
      .enum([
        "pending",
        "created",
        "filtered",
        "ignored",
        "duplicate",
        "refused",
        "invalid",
        "no_pipeline",
        "invalid_pipeline",
        "unreachable",
      ])
      .openapi({ description: "what became of the delivery; `reason` says why for all but `created`" }),
    reason: z.string().nullable(),
    run: z.object({ id: z.string(), number: z.number().int().nullable() }).nullable(),
    status: z.number().int().openapi({ description: "the HTTP status the forge was answered" }),
  })
  .openapi("Delivery");

export function registerDeliveryPaths(registry: Registry) {
  const forges = endpoints(registry, "projects");
  forges({
    method: "post",
    path: "/api/v1/projects/{name}/hook",
    role: "public",
    summary: "Forge webhook receiver",
    description:
      "Recognises GitHub (X-GitHub-Event, X-Hub-Signature-256, X-GitHub-Delivery), Gitea (X-Gitea-Event, X-Gitea-Signature), " +
      "Forgejo (X-Forgejo-Event, X-Forgejo-Signature) and GitLab (X-Gitlab-Event, X-Gitlab-Token) deliveries signed with the " +
      "project's webhook secret. Push, tag and pull/merge request events start a run of the pipeline at their commit unless " +
      "its `on:` leaves them out; other events (ping…) start nothing. A delivery id seen before starts nothing. Every " +
      "delivery is recorded with its outcome. Bodies are limited to 5 MiB.",
    request: { body: { required: true, content: { "application/json": { schema: z.unknown() } } } },
    responses: {
      200: json(Delivery, "recorded; nothing started (see outcome)"),
      201: json(Delivery, "a run was created"),
      202: json(Delivery, "still fetching the commit after 8 s: the outcome follows in the project's deliveries"),
    },
    errors: [400, 401, 413],
  });
  forges({
    method: "get",
    path: "/api/v1/projects/{name}/deliveries",
    role: "viewer",
    summary: "Recent webhook deliveries and their outcome, newest first",
    request: {
      query: z.object({ limit: z.coerce.number().int().min(1).max(500).optional().openapi({ description: "default 50" }) }),
    },
    responses: { 200: json(z.object({ deliveries: z.array(Delivery) }).openapi("DeliveryList"), "deliveries") },
    errors: [400],
  });
}
