import { z } from "@hono/zod-openapi";
import { type Registry, binary, endpoints, json } from "./common.ts";
import {
  AgentDraining,
  AgentPaused,
  AgentList,
  AncestorArchives,
  ArtifactStored,
  AttemptList,
  AttemptStats,
  CacheEntry,
  CacheSaved,
  LogStored,
  QueueDepth,
  StoredObject,
  TestReportStored,
} from "./fleet-schemas.ts";
import { AttemptStatsQuery, ListAttemptsQuery } from "./requests.ts";
import { Deleted } from "./admin-schemas.ts";
import { TEST_REPORT_FORMATS } from "../../../shared/pipeline/index.ts";

/** The agent's id beside its credential: it limits the token to that agent's own running attempts. */
export const agentHeader = z.object({ "x-drover-agent": z.string().openapi({ description: "the calling agent's id" }) });
const upload = (type: string) => ({
  required: true,
  content: { [type]: { schema: z.string().openapi({ format: "binary" }) } },
});
const key = (what: string) => z.string().openapi({ description: `${what}; may contain /` });

export function registerFleetPaths(registry: Registry) {
  const fleet = endpoints(registry, "fleet");
  fleet({
    method: "get",
    path: "/api/v1/agents",
    role: "viewer",
    summary: "Registered agents",
    responses: { 200: json(AgentList, "agents by name") },
  });
  fleet({
    method: "post",
    path: "/api/v1/agents/{id}/drain",
    role: "admin",
    summary: "Drain a connected agent",
    description: "As SIGTERM does locally: no new attempts, running ones finish, then it leaves.",
    responses: { 202: json(AgentDraining, "draining") },
    errors: [409],
  });
  for (const [verb, what] of [
    ["pause", "Pause an agent: it stays connected but takes no new attempts, across reconnects, until resumed"],
    ["resume", "Resume a paused agent"],
  ] as const) {
    fleet({
      method: "post",
      path: `/api/v1/agents/{id}/${verb}`,
      role: "admin",
      summary: what,
      responses: { 200: json(AgentPaused, verb === "pause" ? "paused" : "resumed") },
      errors: [404],
    });
  }
  fleet({
    method: "delete",
    path: "/api/v1/agents/{id}",
    role: "admin",
    summary: "Remove an offline agent's record",
    responses: { 200: json(Deleted, "removed") },
    errors: [409],
  });
  fleet({
    method: "get",
    path: "/api/v1/queue",
    role: "viewer",
    summary: "Queued attempts by executor group, arch and labels, with the oldest one's age",
    description: "What an autoscaler sizes its pools by; /metrics has drover_queue_depth{group,arch} too.",
    responses: { 200: json(QueueDepth, "the queue's depth") },
  });
  fleet({
    method: "get",
    path: "/api/v1/attempts",
    role: "viewer",
    summary: "Attempt history across runs, newest first",
    request: { query: ListAttemptsQuery },
    responses: { 200: json(AttemptList, "attempts") },
    errors: [400],
  });
  fleet({
    method: "get",
    path: "/api/v1/attempts/stats",
    role: "viewer",
    summary: "Duration, memory and CPU figures per task name, from its latest successes",
    request: { query: AttemptStatsQuery },
    responses: { 200: json(AttemptStats, "figures per task name") },
    errors: [400],
  });

  const agent = endpoints(registry, "agent protocol");
  agent({
    method: "get",
    path: "/agent/v1/connect",
    role: "public",
    summary: "The agent's WebSocket (its lease)",
    description: "Authenticated by a registration token (Authorization: Bearer) during the upgrade; see PROTOCOL.md.",
    responses: { 101: { description: "switching to the WebSocket protocol" } },
    errors: [400, 401],
  });
  agent({
    method: "get",
    path: "/agent/v1/prefetches/{grant}",
    role: "agent",
    summary: "Follow a workspace archive while it is uploaded (a prefetch this agent was granted)",
    description:
      "The archive as the store's file grows; the body ends cleanly only once the upload is stored and recorded, and breaks off when it fails. Only the agent granted it, while it may still run the task that restores it, once. See docs/protocol.md, Prefetched workspaces.",
    params: { grant: z.string().openapi({ description: "the grant of the agent's prefetch frame" }) },
    request: { headers: agentHeader },
    responses: { 200: binary("application/zstd", "the archive as it is written") },
    errors: [403, 404],
  });
  const attempt = "/agent/v1/attempts/{attempt}";
  agent({
    method: "get",
    path: `${attempt}/workspace`,
    role: "agent",
    summary: "The run's uploaded workspace archive",
    request: { headers: agentHeader },
    responses: { 200: binary("application/gzip", "tar.gz") },
  });
  agent({
    method: "put",
    path: `${attempt}/steps/{step}/workspace`,
    role: "agent",
    summary: "Store a save_to_workspace step's archive",
    params: { step: z.number().int().min(0).openapi({ description: "step index, from 0" }) },
    request: { headers: agentHeader, body: upload("application/gzip") },
    responses: { 201: json(StoredObject, "stored") },
    errors: [400, 413, 503],
  });
  agent({
    method: "put",
    path: `${attempt}/logs/{step}`,
    role: "agent",
    summary: "Stream a step's log from a byte offset on, beside its WebSocket chunks",
    description:
      "Chunked; acknowledged over the agent's WebSocket as it is stored. Refused (409, details.reason and details.stored) unless it starts at the size stored, while another upload of the log is written, once the log is complete or at its cap, or on a node not holding the agent's WebSocket. See docs/protocol.md.",
    params: { step: z.number().int().min(0).openapi({ description: "step index (with bit 0x8000 for its timestamps stream)" }) },
    request: { headers: agentHeader, query: z.object({ offset: z.number().int().min(0) }), body: upload("application/octet-stream") },
    responses: { 200: json(LogStored, "written") },
    errors: [400, 409, 503],
  });
  agent({
    method: "get",
    path: `${attempt}/workspaces`,
    role: "agent",
    summary: "Workspace archives of the attempt's ancestor tasks, in restore order",
    request: { headers: agentHeader },
    responses: { 200: json(AncestorArchives, "archives") },
  });
  agent({
    method: "get",
    path: `${attempt}/objects/{key}`,
    role: "agent",
    summary: "Read an object the attempt may see",
    description: "Its ancestors' archives, its cache group's caches, the run's upload.",
    params: { key: key("object key") },
    request: { headers: agentHeader },
    responses: { 200: binary("application/octet-stream", "the object") },
  });
  agent({
    method: "get",
    path: `${attempt}/caches`,
    role: "agent",
    summary: "The newest cache whose key starts with a prefix",
    request: { headers: agentHeader, query: z.object({ prefix: z.string().optional() }) },
    responses: { 200: json(CacheEntry, "the cache") },
  });
  agent({
    method: "get",
    path: `${attempt}/caches/{key}`,
    role: "agent",
    summary: "The cache saved under exactly this key",
    params: { key: key("cache key") },
    request: { headers: agentHeader },
    responses: { 200: json(CacheEntry, "the cache") },
  });
  agent({
    method: "put",
    path: `${attempt}/caches/{key}`,
    role: "agent",
    summary: "Save a cache; the first complete save of a key wins",
    params: { key: key("cache key") },
    request: { headers: agentHeader, body: upload("application/gzip") },
    responses: { 200: json(CacheSaved, "the key was already saved"), 201: json(CacheSaved, "stored") },
    errors: [400, 413, 503],
  });
  agent({
    method: "put",
    path: `${attempt}/artifacts/{path}`,
    role: "agent",
    summary: "Store an artifact",
    params: { path: key("relative path, without . or .. segments") },
    request: { headers: agentHeader, body: upload("application/octet-stream") },
    responses: { 201: json(ArtifactStored, "stored") },
    errors: [400, 413, 503],
  });
  agent({
    method: "put",
    path: `${attempt}/test-reports/{step}/{path}`,
    role: "agent",
    summary: "Send a test report for the coordinator to parse and store",
    params: { step: z.string().openapi({ description: "the test_results step's index" }), path: key("the report's relative path") },
    request: {
      headers: agentHeader,
      query: z.object({ format: z.enum(TEST_REPORT_FORMATS) }),
      body: upload("application/octet-stream"),
    },
    responses: { 201: json(TestReportStored, "parsed and stored") },
    errors: [400, 413],
  });
}
