import { z } from "zod";
import { ARCHS } from "../pipeline/types.ts";
import { AGENT_BOUNDS } from "./agent-bounds.ts";
import { EXECUTORS } from "./executors.ts";

export const archSchema = z.enum(ARCHS);
export type Arch = z.infer<typeof archSchema>;

const runningAttemptSchema = z.object({
  attempt: z.string().min(1).max(64),
  /**
   * per step index: bytes of its log the agent knows were stored (acknowledged), for each step still running or
   * whose end is not yet acknowledged (its log not yet in the object store)
   */
  steps: z.array(z.object({ index: z.number().int().min(0), stored: z.number().int().min(0) })).max(1000),
});

const enforcement = z.enum(["cgroup", "rlimit"]).nullable();
export const limitsSchema = z.object({
  memory: enforcement,
  pids: enforcement,
  /** each step's processes live in a PID namespace of their own (the sandbox's, or the host executor's where it can make one) */
  pidNamespace: z.boolean().optional(),
  /** why a host agent's steps have none: it keeps its steps' trees with cgroups or a subreaper supervisor instead */
  pidNamespaceWhyNot: z.string().max(512).nullable().optional(),
});
export type Limits = z.infer<typeof limitsSchema>;

export const helloSchema = z.object({
  type: z.literal("hello"),
  protocol: z.number().int(),
  version: z.string().max(64),
  id: z.string().max(64).optional(),
  credential: z.string().max(256).optional(),
  name: z.string().min(1).max(AGENT_BOUNDS.name),
  archs: z.array(archSchema).min(1).max(4),
  group: z.string().max(AGENT_BOUNDS.group),
  labels: z.record(z.string().max(AGENT_BOUNDS.labelKey), z.string().max(AGENT_BOUNDS.labelValue)),
  capacity: z.number().int().min(1).max(AGENT_BOUNDS.capacity),
  resources: z.object({ cpu: z.number().min(0), memoryBytes: z.number().min(0) }),
  dynamic: z.boolean(),
  /** how this agent runs steps: on the host, or in a bubblewrap sandbox */
  executor: z.enum(EXECUTORS),
  /** what holds a step's memory and process count on this agent: a cgroup, rlimits, or nothing */
  limits: limitsSchema,
  host: z.string().max(256),
  /** the agent's work root; siblings sharing it can clean up after a dead agent */
  workDir: z.string().max(4096),
  running: z.array(runningAttemptSchema).max(1024),
  /** the agent keeps workspaces (kept.ts) and takes prefetch hints (prefetch.ts); absent from older agents */
  prefetch: z.boolean().optional(),
});
export type Hello = z.infer<typeof helloSchema>;

/** Renews the lease; the coordinator answers with a `lease` frame carrying the same `seq` (fencing, see agent/executor/lease.ts). */
export const heartbeatSchema = z.object({ type: z.literal("heartbeat"), seq: z.number().int().min(0) });

/**
 * The `seq` of a control frame that is a plain heartbeat, checked by hand as `heartbeatSchema` would: nearly every
 * frame of an idle fleet is one (a thousand agents send two hundred a second). Null for any other text, which the
 * schemas then judge, with their errors.
 */
export function heartbeatSeq(text: string): number | null {
  if (text.length > 64 || !text.startsWith('{"type":"heartbeat"')) return null;
  let raw: { type?: unknown; seq?: unknown };
  try {
    raw = JSON.parse(text);
  } catch {
    return null;
  }
  return raw.type === "heartbeat" && Number.isInteger(raw.seq) && (raw.seq as number) >= 0 ? (raw.seq as number) : null;
}
/** The agent takes no new attempts from now on and leaves once the running ones are done. */
export const drainingSchema = z.object({ type: z.literal("draining") });

/** Reports carry an id; the agent keeps each until acked and resends it after a reconnect. */
const reportBase = { id: z.string().min(1).max(64), attempt: z.string().min(1).max(64) };

export const acceptSchema = z.object({ type: z.literal("accept"), ...reportBase });
/** An assignment the agent will not run (it is draining): the attempt goes back to the queue. */
export const rejectSchema = z.object({ type: z.literal("reject"), ...reportBase, reason: z.string().max(1024) });

export const stepStartSchema = z.object({
  type: z.literal("step_start"),
  ...reportBase,
  step: z.number().int().min(0),
  at: z.number(),
});

export const stepEndSchema = z.object({
  type: z.literal("step_end"),
  ...reportBase,
  step: z.number().int().min(0),
  at: z.number(),
  exitCode: z.number().int().nullable(),
  error: z.string().max(4096).nullable(),
  /** total bytes of the step's log; the coordinator finalises the log once it holds them all, and acks once it is stored */
  logSize: z.number().int().min(0),
  /** total bytes of the step's timestamps stream (see STAMPS_STREAM), when it has any */
  stampsSize: z.number().int().min(0).optional(),
});

export const ATTEMPT_RESULTS = ["success", "failed", "stopped", "error"] as const;
export const resultSchema = z.object({
  type: z.literal("result"),
  ...reportBase,
  at: z.number(),
  status: z.enum(ATTEMPT_RESULTS),
  exitCode: z.number().int().nullable(),
  error: z.string().max(4096).nullable(),
  cpuSeconds: z.number().min(0),
  peakRssBytes: z.number().min(0),
});
export type AttemptResultReport = z.infer<typeof resultSchema>;

/** A sibling's answer to a cleanup request: what it found and removed. */
export const cleanupDoneSchema = z.object({
  type: z.literal("cleanup_done"),
  id: z.string().min(1).max(64),
  cleanup: z.string().min(1).max(64),
  killedProcesses: z.number().int().min(0),
  removedPaths: z.array(z.string().max(4096)).max(10_000),
  errors: z.array(z.string().max(4096)).max(1000),
});
export type CleanupDone = z.infer<typeof cleanupDoneSchema>;

export const agentMessageSchema = z.discriminatedUnion("type", [
  cleanupDoneSchema,
  helloSchema,
  heartbeatSchema,
  drainingSchema,
  acceptSchema,
  rejectSchema,
  stepStartSchema,
  stepEndSchema,
  resultSchema,
]);
export type AgentMessage = z.infer<typeof agentMessageSchema>;
/** Messages the agent keeps until acknowledged (everything with an id but the hello). */
export type Report = Extract<AgentMessage, { id: string }>;
