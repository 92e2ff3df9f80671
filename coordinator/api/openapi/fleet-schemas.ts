import { z } from "@hono/zod-openapi";
import { attemptFields, ms } from "./run-schemas.ts";

/** Responses about agents, attempt history, and the agent-facing archive routes. */

export const Agent = z
  .object({
    id: z.string(),
    name: z.string(),
    host: z.string(),
    workDir: z.string(),
    archs: z.array(z.enum(["amd64", "arm64", "arm", "386"])),
    group: z.string().openapi({ description: "executor group" }),
    labels: z.record(z.string(), z.string()),
    capacity: z.number().int().openapi({ description: "concurrent attempts" }),
    resources: z.object({ cpu: z.number(), memoryBytes: z.number().int() }),
    dynamic: z.boolean(),
    executor: z.enum(["host", "sandbox"]).openapi({ description: "how it runs steps: on the host, or in a bubblewrap sandbox" }),
    limits: z
      .object({
        memory: z.enum(["cgroup", "rlimit"]).nullable(),
        pids: z.enum(["cgroup", "rlimit"]).nullable(),
        pidNamespace: z.boolean().optional().openapi({ description: "each step runs in a PID namespace of its own" }),
        pidNamespaceWhyNot: z.string().nullable().optional().openapi({ description: "why a host agent's steps have no PID namespace" }),
      })
      .nullable()
      .openapi({ description: "what holds a step's memory and process count there (a cgroup, rlimits, or nothing), and whether its processes get a PID namespace" }),
    version: z.string(),
    state: z.enum(["online", "draining", "offline"]),
    paused: z.boolean().openapi({ description: "given no new attempts until resumed, across reconnects" }),
    leaseExpiresAt: ms,
    lastHeartbeatAt: ms,
    createdAt: ms,
    running: z.array(z.string()).openapi({ description: "ids of the attempts it runs now" }),
    connected: z.boolean().openapi({ description: "holds a WebSocket to this coordinator" }),
    nodeId: z.string().nullable().openapi({ description: "the coordinator node it registered with last (several coordinators: docs/cluster.md)" }),
  })
  .openapi("Agent");

export const AgentList = z.object({ agents: z.array(Agent) }).openapi("AgentList");

export const QueueDepth = z
  .object({
    queued: z.number().int().openapi({ description: "attempts waiting for an agent" }),
    pools: z.array(
      z.object({
        group: z.string().openapi({ description: 'the executor group the tasks ask for, or "any"' }),
        arch: z.string().openapi({ description: 'the arch the tasks ask for, or "any"' }),
        labels: z.record(z.string(), z.string()),
        queued: z.number().int(),
        oldestAgeSeconds: z.number().openapi({ description: "how long the oldest of them has waited" }),
      }),
    ),
  })
  .openapi("QueueDepth");

export const TestReportStored = z.object({
  cases: z.number().int(),
  failed: z.number().int().openapi({ description: "failed or errored cases" }),
  skipped: z.number().int(),
});

export const AgentPaused = z.object({ id: z.string(), paused: z.boolean() });

export const AgentDraining = z.object({ id: z.string(), state: z.literal("draining") });

export const AttemptHistoryItem = z
  .object({
    ...attemptFields,
    agentName: z.string().nullable().openapi({ description: "null once the agent's record is gone" }),
    durationMs: z.number().int().nullable().openapi({ description: "start to end, once ended" }),
  })
  .openapi("AttemptHistoryItem");

export const AttemptList = z.object({ attempts: z.array(AttemptHistoryItem) }).openapi("AttemptList");

const orNull = z.number().nullable();
export const TaskStats = z
  .object({
    name: z.string(),
    count: z.number().int().openapi({ description: "successful attempts the figures are drawn from" }),
    p50DurationMs: orNull,
    p95DurationMs: orNull,
    p50PeakRssBytes: orNull,
    p95PeakRssBytes: orNull,
    meanCpuSeconds: orNull,
  })
  .openapi("TaskStats");

export const AttemptStats = z
  .object({ sample: z.number().int().openapi({ description: "latest successes per name looked at" }), stats: z.array(TaskStats) })
  .openapi("AttemptStats");

export const LogStored = z.object({ stored: z.number().int().describe("bytes of the log stored now") });

export const StoredObject = z.object({
  object: z.string(),
  size: z.number().int(),
  sha256: z.string().describe("empty: workspace archives are not hashed"),
});
export const AncestorArchives = z.object({
  archives: z.array(z.object({ task: z.string(), object: z.string(), size: z.number().int() })),
});
export const CacheEntry = z.object({ key: z.string(), object: z.string(), size: z.number().int() }).openapi("CacheEntry");
export const CacheSaved = z.object({ stored: z.boolean().openapi({ description: "false: another save of the key won" }) });
export const ArtifactStored = z.object({ path: z.string(), size: z.number().int(), sha256: z.string() });
