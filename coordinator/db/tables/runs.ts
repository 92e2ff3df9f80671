import { sql } from "drizzle-orm";
import { index, integer, primaryKey, real, sqliteTable, text, uniqueIndex } from "drizzle-orm/sqlite-core";
import type { RunSource } from "../../../shared/source.ts";
import { ON_AGENT_STATES } from "../../../shared/states.ts";
import { json } from "./columns.ts";

export const runs = sqliteTable(
  "runs",
  {
    id: text("id").primaryKey(),
    group: text("group").notNull(),
    user: text("user").notNull(),
    pipeline: text("pipeline").notNull(),
    pipelineFile: text("pipeline_file").notNull(),
    variables: json<Record<string, string>>("variables").notNull(),
    workspace: text("workspace"),
    /** the pipeline's `cache_group:`; caches are shared by run group when absent */
    cacheGroup: text("cache_group"),
    phase: text("phase").notNull(),
    result: text("result").notNull(),
    error: text("error"),
    /** set by a cancel; stored so that a restart in the middle of stopping still stops the run */
    cancelRequestedAt: integer("cancel_requested_at"),
    createdAt: integer("created_at").notNull(),
    startedAt: integer("started_at"),
    endedAt: integer("ended_at"),
    /** the project a repository run builds; runs outlive their project, so its name is kept beside the id */
    projectId: text("project_id"),
    project: text("project"),
    /** 1, 2, 3… per project, taken from projects.next_run_number in the run's own write batch */
    number: integer("number"),
    /** what the run builds and why; null for runs stored before sources existed */
    source: json<RunSource>("source"),
    /** the commit status state its forge last took (forges/status-notifier.ts): a restart posts any state it lacks */
    statusPosted: text("status_posted"),
    /** the node driving the run's engine (cluster/run-leases.ts): a lease renewed every second, fenced by the epoch */
    ownerNode: text("owner_node"),
    ownerEpoch: integer("owner_epoch").notNull().default(0),
    ownerExpiresAt: integer("owner_expires_at").notNull().default(0),
  },
  (t) => [
    index("runs_phase_owner").on(t.phase, t.ownerExpiresAt),
    // a group's runs newest first (the run list filtered by group) without sorting all of them
    index("runs_group_id").on(t.group, t.id),
    index("runs_created").on(t.createdAt),
    uniqueIndex("runs_project_number").on(t.projectId, t.number),
    index("runs_project_id").on(t.project, t.id),
  ],
);

export const tasks = sqliteTable(
  "tasks",
  {
    id: text("id").primaryKey(),
    runId: text("run_id")
      .notNull()
      .references(() => runs.id, { onDelete: "cascade" }),
    name: text("name").notNull(),
    level: integer("level").notNull(),
    spec: json<unknown>("spec").notNull(),
    status: text("status").notNull(),
    statusMessage: text("status_message"),
    annotations: json<Record<string, unknown>>("annotations").notNull(),
    startedAt: integer("started_at"),
    endedAt: integer("ended_at"),
  },
  (t) => [uniqueIndex("tasks_run_name").on(t.runId, t.name)],
);

/**
 * An attempt an agent holds, in SQL. SQLite serves a query from a partial index only when the query's WHERE has the
 * index's own condition as a term, literally: queries of the attempts an agent holds put this one in theirs.
 */
export const ON_AGENT = sql.raw(`"state" IN (${[...ON_AGENT_STATES].map((s) => `'${s}'`).join(", ")})`);

export const attempts = sqliteTable(
  "attempts",
  {
    id: text("id").primaryKey(),
    runId: text("run_id")
      .notNull()
      .references(() => runs.id, { onDelete: "cascade" }),
    taskId: text("task_id")
      .notNull()
      .references(() => tasks.id, { onDelete: "cascade" }),
    taskName: text("task_name").notNull(),
    number: integer("number").notNull(),
    agentId: text("agent_id"),
    state: text("state").notNull(),
    exitCode: integer("exit_code"),
    error: text("error"),
    digest: text("digest").notNull(),
    readyAt: integer("ready_at").notNull(),
    assignedAt: integer("assigned_at"),
    startedAt: integer("started_at"),
    keepaliveAt: integer("keepalive_at"),
    endedAt: integer("ended_at"),
    cpuSeconds: real("cpu_seconds"),
    peakRssBytes: integer("peak_rss_bytes"),
    /** set on the copy a restart from failed keeps of an earlier run's attempt: it ran once, there */
    keptFrom: text("kept_from"),
    /** the run's engine asked for the attempt to stop: whichever node holds its agent tells it, also after a reconnect */
    cancelRequestedAt: integer("cancel_requested_at"),
  },
  // Every index here is written at each of an attempt's moves that changes its columns (three moves per attempt):
  // none on `state` alone, which no query leads with, and the agent's attempts in hand only while they are.
  (t) => [
    index("attempts_task").on(t.taskId, t.number),
    index("attempts_run").on(t.runId),
    index("attempts_name_ready").on(t.taskName, t.readyAt),
    index("attempts_digest_ready").on(t.digest, t.readyAt),
    index("attempts_agent_active").on(t.agentId).where(ON_AGENT),
    index("attempts_ready").on(t.readyAt),
    index("attempts_agent_ready").on(t.agentId, t.readyAt),
  ],
);

export const steps = sqliteTable(
  "steps",
  {
    attemptId: text("attempt_id")
      .notNull()
      .references(() => attempts.id, { onDelete: "cascade" }),
    index: integer("idx").notNull(),
    name: text("name").notNull(),
    kind: text("kind").notNull(),
    status: text("status").notNull(),
    exitCode: integer("exit_code"),
    error: text("error"),
    startedAt: integer("started_at"),
    endedAt: integer("ended_at"),
    firstByteAt: real("first_byte_at"),
    logObject: text("log_object"),
    logSize: integer("log_size").notNull().default(0),
    /** the workspace archive a save_to_workspace step stored */
    archiveObject: text("archive_object"),
  },
  (t) => [primaryKey({ columns: [t.attemptId, t.index] })],
);

export const events = sqliteTable(
  "events",
  {
    seq: integer("seq").primaryKey({ autoIncrement: true }),
    runId: text("run_id").notNull(),
    kind: text("kind").notNull(),
    data: json<Record<string, unknown>>("data").notNull(),
    at: integer("at")
      .notNull()
      .default(sql`(unixepoch('subsec') * 1000)`),
  },
  (t) => [index("events_run_seq").on(t.runId, t.seq)],
);
