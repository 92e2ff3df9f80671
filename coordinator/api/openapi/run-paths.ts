import { z } from "@hono/zod-openapi";
import { type Registry, binary, endpoints, json, jsonBody } from "./common.ts";
import { ListRunsQuery, RestartRun, SubmitRun } from "./requests.ts";
import { Artifact, RunDeleted, RunList, RunSummary, RunTests, RunView } from "./run-schemas.ts";

// Multipart carries SubmitRun's fields as form fields (variables as JSON text) beside the file;
// the handler puts them back together and validates them with SubmitRun.
const SubmitForm = z.object({
  pipeline: z.string(),
  file: z.string().optional(),
  group: z.string().optional(),
  variables: z.string().optional().openapi({ description: "a JSON object of strings" }),
  workspace: z.string().optional().openapi({ format: "binary", description: "the checkout as a tar.gz" }),
});

const eventStream = (description: string) => ({
  description,
  content: {
    "text/event-stream": {
      schema: z.string().openapi({ description: "`id:` is the sequence, `event:` the kind, `data:` a RunEvent" }),
    },
  },
});
// The log, event and cache lookups read their few query fields by hand, leniently; the schemas
// for them here only describe those fields, which is why they are not in requests.ts.
const events = {
  query: z.object({ after: z.string().optional().openapi({ description: "sequence number to resume after" }) }),
  headers: z.object({
    "last-event-id": z.string().optional().openapi({ description: "what a reconnecting EventSource sends; wins over after" }),
  }),
};

export function registerRunPaths(registry: Registry) {
  const endpoint = endpoints(registry, "runs");
  endpoint({
    method: "post",
    path: "/api/v1/runs",
    role: "member",
    summary: "Submit a run",
    description: "JSON, or multipart with the checkout as the `workspace` file. The body is validated as SubmitRun either way.",
    request: {
      body: {
        required: true,
        content: { "application/json": { schema: SubmitRun }, "multipart/form-data": { schema: SubmitForm } },
      },
    },
    responses: { 201: json(RunSummary, "the queued run") },
    errors: [413, 503],
  });
  endpoint({
    method: "get",
    path: "/api/v1/runs",
    role: "viewer",
    summary: "List runs, newest first",
    request: { query: ListRunsQuery },
    responses: { 200: json(RunList, "runs") },
    errors: [400],
  });
  endpoint({
    method: "get",
    path: "/api/v1/runs/{id}",
    role: "viewer",
    summary: "One run with its tasks, attempts and steps",
    responses: { 200: json(RunView, "the run") },
  });
  endpoint({
    method: "delete",
    path: "/api/v1/runs/{id}",
    role: "admin",
    summary: "Drop a run and the objects only it owns",
    responses: { 200: json(RunDeleted, "dropped") },
    errors: [409],
  });
  endpoint({
    method: "post",
    path: "/api/v1/runs/{id}/cancel",
    role: "member",
    summary: "Ask a running run to stop",
    responses: { 202: json(z.object({ id: z.string(), cancelRequested: z.literal(true) }), "cancel requested") },
    errors: [409],
  });
  endpoint({
    method: "post",
    path: "/api/v1/runs/{id}/restart",
    role: "member",
    summary: "Start a new run from this one",
    description: "`failed` keeps the results (and objects) of the tasks that succeeded.",
    request: { body: jsonBody(RestartRun) },
    responses: { 201: json(RunSummary, "the new run") },
    errors: [409],
  });
  endpoint({
    method: "post",
    path: "/api/v1/runs/{id}/tasks/{task}/approve",
    role: "member",
    summary: "Add the caller to a task's approvers",
    responses: { 200: json(z.object({ task: z.string(), approvers: z.array(z.string()) }), "approvers so far") },
    errors: [409],
  });
  endpoint({
    method: "post",
    path: "/api/v1/runs/{id}/tasks/{task}/rerun",
    role: "member",
    summary: "Run one task again",
    responses: { 202: json(z.object({ task: z.string(), rerun: z.literal(true) }), "rerun queued") },
    errors: [409],
  });
  endpoint({
    method: "get",
    path: "/api/v1/runs/{id}/tasks/{task}/steps/{index}/log",
    role: "viewer",
    summary: "A step's log",
    description: "Gzip-encoded when accepted, unless followed.",
    params: { index: z.number().int().min(0).openapi({ description: "step index, from 0" }) },
    request: {
      query: z.object({
        follow: z.enum(["1", "true"]).optional().openapi({ description: "stream until the step ends" }),
        attempt: z.number().int().min(1).optional().openapi({ description: "attempt number; default the latest" }),
        offset: z.number().int().min(0).optional().openapi({
          description: "the first byte to send (default 0): a follower whose stream broke resumes from the bytes it has",
        }),
        timestamps: z.enum(["1", "true"]).optional().openapi({
          description:
            "the step's line timestamps instead of its log, recorded by the agent as it read the output: one `OFFSET MS` line " +
            "per read, meaning the output from byte OFFSET on was read at MS (milliseconds since the epoch, to 10 ms); a line " +
            "began at the time of the last record at or before its first byte. Empty for a step whose agent sent none.",
        }),
      }),
    },
    responses: { 200: { description: "the log bytes (or its timestamps)", content: { "text/plain": { schema: z.string() } } } },
  });
  endpoint({
    method: "get",
    path: "/api/v1/runs/{id}/events",
    role: "viewer",
    summary: "Server-sent events of one run",
    request: events,
    responses: { 200: eventStream("one event per state change, then new ones as they happen") },
  });
  endpoint({
    method: "get",
    path: "/api/v1/events",
    role: "viewer",
    summary: "Server-sent events of every run",
    request: events,
    responses: { 200: eventStream("one event per state change of any run") },
  });
  endpoint({
    method: "get",
    path: "/api/v1/runs/{id}/log",
    role: "viewer",
    summary: "The whole run's log",
    description: "Each task's latest attempt, step by step, each under a `=== task › step N: name` line; what is stored so far.",
    responses: { 200: binary("text/plain", "the log") },
    errors: [404],
  });
  endpoint({
    method: "get",
    path: "/api/v1/runs/{id}/tests",
    role: "viewer",
    summary: "Test cases parsed by the run's test_results steps",
    description: "JUnit XML and TAP reports, one case per test; failed and errored cases first.",
    responses: { 200: json(RunTests, "the run's test cases") },
    errors: [404],
  });
  endpoint({
    method: "get",
    path: "/api/v1/runs/{id}/artifacts",
    role: "viewer",
    summary: "The run's artifacts",
    responses: { 200: json(z.object({ artifacts: z.array(Artifact) }), "artifacts by task and path") },
  });
  endpoint({
    method: "get",
    path: "/api/v1/runs/{id}/artifacts/{task}/{path}",
    role: "viewer",
    summary: "Download an artifact",
    params: { path: z.string().openapi({ description: "the artifact's relative path; may contain /" }) },
    responses: {
      200: {
        ...binary("application/octet-stream", "the artifact's bytes"),
        headers: z.object({ "x-checksum-sha256": z.string() }),
      },
    },
  });
}
