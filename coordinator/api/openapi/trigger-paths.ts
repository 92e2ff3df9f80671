import { z } from "@hono/zod-openapi";
import { Deleted, HookCreated, HookList, Schedule, ScheduleList } from "./admin-schemas.ts";
import { type Registry, endpoints, json, jsonBody } from "./common.ts";
import { CreateHook, CreateSchedule, UpdateSchedule } from "./requests.ts";
import { RunSummary } from "./run-schemas.ts";

export function registerTriggerPaths(registry: Registry) {
  const triggers = endpoints(registry, "triggers");
  triggers({
    method: "post",
    path: "/api/v1/schedules",
    role: "member",
    summary: "Create a cron schedule",
    description: "The cron expression and the pipeline are checked now, not when the schedule first fires.",
    request: { body: jsonBody(CreateSchedule) },
    responses: { 201: json(Schedule, "the schedule") },
  });
  triggers({
    method: "get",
    path: "/api/v1/schedules",
    role: "viewer",
    summary: "Cron schedules",
    responses: { 200: json(ScheduleList, "schedules") },
  });
  triggers({
    method: "put",
    path: "/api/v1/schedules/{id}",
    role: "member",
    summary: "Change a schedule",
    description: "A new cron or a re-enable counts from now: earlier occurrences are not caught up.",
    request: { body: jsonBody(UpdateSchedule) },
    responses: { 200: json(Schedule, "the schedule") },
  });
  triggers({
    method: "delete",
    path: "/api/v1/schedules/{id}",
    role: "member",
    summary: "Delete a schedule",
    responses: { 200: json(Deleted, "deleted") },
  });
  triggers({
    method: "post",
    path: "/api/v1/hooks",
    role: "member",
    summary: "Create a webhook trigger",
    request: { body: jsonBody(CreateHook) },
    responses: { 201: json(HookCreated, "the hook with its secret, shown once") },
  });
  triggers({
    method: "get",
    path: "/api/v1/hooks",
    role: "viewer",
    summary: "Webhook triggers",
    responses: { 200: json(HookList, "hooks") },
  });
  triggers({
    method: "delete",
    path: "/api/v1/hooks/{id}",
    role: "member",
    summary: "Delete a webhook trigger",
    responses: { 200: json(Deleted, "deleted") },
  });
  triggers({
    method: "post",
    path: "/api/v1/hooks/{id}",
    role: "public",
    summary: "Fire a webhook: create a run",
    description:
      "Signed instead of token-authenticated: X-Hub-Signature-256 is `sha256=` and the hex HMAC-SHA256 of the body under the hook's secret. " +
      "Top-level string fields of a JSON object payload become `HOOK_<FIELD>` run variables. Bodies are limited to 5 MiB.",
    request: {
      headers: z.object({ "x-hub-signature-256": z.string() }),
      body: { required: false, content: { "application/json": { schema: z.unknown() } } },
    },
    responses: { 201: json(RunSummary, "the queued run") },
    errors: [401, 413],
  });
}
