import { sql } from "drizzle-orm";
import { index, integer, primaryKey, real, sqliteTable, text, uniqueIndex } from "drizzle-orm/sqlite-core";
import type { RunSource } from "../../shared/source.ts";
import { ON_AGENT_STATES } from "../../shared/states.ts";

const json = <T>(name: string) => text(name, { mode: "json" }).$type<T>();

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

/** Repositories Drover builds. Clone credentials and the webhook secret are AES-256-GCM encrypted like group secrets. */
export const projects = sqliteTable(
  "projects",
  {
    id: text("id").primaryKey(),
    name: text("name").notNull(),
    repoUrl: text("repo_url").notNull(),
    /** github | gitea | forgejo | gitlab | git */
    forge: text("forge").notNull(),
    /** the forge's REST API base (commit statuses); null for plain git */
    apiUrl: text("api_url"),
    defaultBranch: text("default_branch").notNull(),
    pipelinePath: text("pipeline_path").notNull(),
    /** poll the repository's heads this often; null: webhooks only */
    pollMs: integer("poll_ms"),
    forkApproval: integer("fork_approval", { mode: "boolean" }).notNull(),
    /** encrypted JSON of the clone credentials (see projects/credentials.ts); null for a public repository */
    credentials: text("credentials"),
    /** encrypted webhook secret: forges sign deliveries with it (or send it, GitLab) */
    hookSecret: text("hook_secret").notNull(),
    nextRunNumber: integer("next_run_number").notNull().default(1),
    user: text("user").notNull(),
    createdAt: integer("created_at").notNull(),
  },
  (t) => [uniqueIndex("projects_name").on(t.name)],
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

export const agents = sqliteTable(
  "agents",
  {
    id: text("id").primaryKey(),
    name: text("name").notNull(),
    host: text("host").notNull(),
    workDir: text("work_dir").notNull().default(""),
    archs: json<string[]>("archs").notNull(),
    group: text("group").notNull(),
    labels: json<Record<string, string>>("labels").notNull(),
    capacity: integer("capacity").notNull(),
    resources: json<{ cpu: number; memoryBytes: number }>("resources").notNull(),
    dynamic: integer("dynamic", { mode: "boolean" }).notNull(),
    executor: text("executor").notNull().default("host"),
    /** paused by an admin: connected, but given no new attempts, across reconnects, until resumed */
    paused: integer("paused", { mode: "boolean" }).notNull().default(false),
    /** what holds a step's memory and process count there (agent hello `limits`); null for agents older than that */
    limits: json<{ memory: string | null; pids: string | null; pidNamespace?: boolean; pidNamespaceWhyNot?: string | null }>("limits"),
    version: text("version").notNull(),
    state: text("state").notNull(),
    credentialHash: text("credential_hash").notNull(),
    leaseExpiresAt: integer("lease_expires_at").notNull(),
    lastHeartbeatAt: integer("last_heartbeat_at").notNull(),
    createdAt: integer("created_at").notNull(),
    /** the coordinator node the agent is (or was last) connected to */
    nodeId: text("node_id"),
  },
  (t) => [index("agents_state").on(t.state)],
);

export const objects = sqliteTable(
  "objects",
  {
    key: text("key").primaryKey(),
    kind: text("kind").notNull(),
    size: integer("size").notNull(),
    sha256: text("sha256").notNull(),
    createdAt: integer("created_at").notNull(),
  },
  (t) => [index("objects_kind_created").on(t.kind, t.createdAt)],
);

export const objectOwners = sqliteTable(
  "object_owners",
  {
    key: text("key")
      .notNull()
      .references(() => objects.key, { onDelete: "cascade" }),
    owner: text("owner").notNull(),
  },
  (t) => [primaryKey({ columns: [t.key, t.owner] }), index("object_owners_owner").on(t.owner)],
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

/** API tokens, stored as sha256 hashes; the clear token is shown once, at creation. */
export const tokens = sqliteTable(
  "tokens",
  {
    id: text("id").primaryKey(),
    hash: text("hash").notNull(),
    user: text("user").notNull(),
    role: text("role").notNull(),
    name: text("name").notNull(),
    createdAt: integer("created_at").notNull(),
    revokedAt: integer("revoked_at"),
  },
  (t) => [uniqueIndex("tokens_hash").on(t.hash)],
);

/** Per run group settings; a group without a row has no concurrency limit and no notifications. */
export const runGroups = sqliteTable("run_groups", {
  name: text("name").primaryKey(),
  concurrency: integer("concurrency"),
  /** run-finished webhook, signed with notifySecret */
  notifyUrl: text("notify_url"),
  notifySecret: text("notify_secret"),
});

/** Variables and secrets of a run group, injected into its tasks; secret values are AES-256-GCM encrypted. */
export const groupValues = sqliteTable(
  "group_values",
  {
    group: text("group").notNull(),
    name: text("name").notNull(),
    secret: integer("secret", { mode: "boolean" }).notNull(),
    /** plain for variables; `iv.tag.ciphertext` (base64) for secrets */
    value: text("value").notNull(),
    updatedAt: integer("updated_at").notNull(),
  },
  (t) => [primaryKey({ columns: [t.group, t.name] })],
);

/** Registration tokens limited to one executor group, stored hashed. */
export const agentTokens = sqliteTable(
  "agent_tokens",
  {
    id: text("id").primaryKey(),
    hash: text("hash").notNull(),
    group: text("group").notNull(),
    createdAt: integer("created_at").notNull(),
    revokedAt: integer("revoked_at"),
  },
  (t) => [uniqueIndex("agent_tokens_hash").on(t.hash)],
);

/** Cron triggers; `lastTick` is the last tick a run was created for, so no tick runs twice across restarts. */
export const schedules = sqliteTable("schedules", {
  id: text("id").primaryKey(),
  cron: text("cron").notNull(),
  pipeline: text("pipeline").notNull(),
  group: text("group").notNull(),
  variables: json<Record<string, string>>("variables").notNull(),
  user: text("user").notNull(),
  enabled: integer("enabled", { mode: "boolean" }).notNull(),
  lastTick: integer("last_tick"),
  createdAt: integer("created_at").notNull(),
});

/** Webhook triggers: a POST signed with the hook's secret (HMAC-SHA256) creates a run. */
export const hooks = sqliteTable("hooks", {
  id: text("id").primaryKey(),
  secret: text("secret").notNull(),
  pipeline: text("pipeline").notNull(),
  group: text("group").notNull(),
  user: text("user").notNull(),
  createdAt: integer("created_at").notNull(),
});

/** What a dead dynamic agent left behind, waiting for a live sibling in its group to clean it up. */
export const agentCleanups = sqliteTable("agent_cleanups", {
  id: text("id").primaryKey(),
  agentId: text("agent_id").notNull(),
  agentName: text("agent_name").notNull(),
  group: text("group").notNull(),
  host: text("host").notNull(),
  workDir: text("work_dir").notNull(),
  attempts: json<string[]>("attempts").notNull(),
  createdAt: integer("created_at").notNull(),
  sentTo: text("sent_to"),
  doneAt: integer("done_at"),
  report: json<Record<string, unknown>>("report"),
});

/** Caches by cache group and key; the first complete save of a key wins. */
export const caches = sqliteTable(
  "caches",
  {
    group: text("group").notNull(),
    key: text("key").notNull(),
    object: text("object").notNull(),
    size: integer("size").notNull(),
    createdAt: integer("created_at").notNull(),
    lastUsedAt: integer("last_used_at").notNull(),
  },
  (t) => [primaryKey({ columns: [t.group, t.key] }), index("caches_group_created").on(t.group, t.createdAt)],
);

export const artifacts = sqliteTable(
  "artifacts",
  {
    runId: text("run_id")
      .notNull()
      .references(() => runs.id, { onDelete: "cascade" }),
    task: text("task").notNull(),
    attemptId: text("attempt_id").notNull(),
    path: text("path").notNull(),
    object: text("object").notNull(),
    size: integer("size").notNull(),
    sha256: text("sha256").notNull(),
    createdAt: integer("created_at").notNull(),
  },
  (t) => [primaryKey({ columns: [t.runId, t.task, t.path] })],
);

/** Every webhook delivery a project's receiver got, and what became of it (forges/deliveries.ts). */
export const deliveries = sqliteTable(
  "deliveries",
  {
    id: text("id").primaryKey(),
    projectId: text("project_id")
      .notNull()
      .references(() => projects.id, { onDelete: "cascade" }),
    project: text("project").notNull(),
    /** github | gitea | forgejo | gitlab; null when the headers named no forge */
    forge: text("forge"),
    event: text("event"),
    /** the forge's delivery id (or a hash of the body when it sent none) */
    deliveryId: text("delivery_id"),
    /** the delivery id while this delivery holds it: a second delivery of that id is a duplicate */
    claim: text("claim"),
    ref: text("ref"),
    receivedAt: integer("received_at").notNull(),
    outcome: text("outcome").notNull(),
    reason: text("reason"),
    runId: text("run_id"),
    runNumber: integer("run_number"),
    /** the HTTP status the forge got */
    status: integer("status").notNull(),
  },
  (t) => [
    uniqueIndex("deliveries_claim").on(t.projectId, t.claim),
    index("deliveries_project_received").on(t.projectId, t.receivedAt),
  ],
);

/** The branch heads a polled project had at its last poll: each head starts one run, also across restarts. */
export const polledHeads = sqliteTable(
  "polled_heads",
  {
    projectId: text("project_id")
      .notNull()
      .references(() => projects.id, { onDelete: "cascade" }),
    ref: text("ref").notNull(),
    sha: text("sha").notNull(),
    seenAt: integer("seen_at").notNull(),
  },
  (t) => [primaryKey({ columns: [t.projectId, t.ref] })],
);

/** Test cases a run's `test_results` steps parsed from JUnit XML or TAP reports (coordinator/tests). */
export const testCases = sqliteTable(
  "test_cases",
  {
    id: integer("id").primaryKey({ autoIncrement: true }),
    runId: text("run_id")
      .notNull()
      .references(() => runs.id, { onDelete: "cascade" }),
    task: text("task").notNull(),
    attemptId: text("attempt_id").notNull(),
    attempt: integer("attempt").notNull(),
    step: integer("step").notNull(),
    /** the report file, relative to the work dir */
    file: text("file").notNull(),
    suite: text("suite").notNull(),
    name: text("name").notNull(),
    status: text("status", { enum: ["passed", "failed", "error", "skipped"] }).notNull(),
    durationMs: real("duration_ms"),
    message: text("message"),
    details: text("details"),
  },
  (t) => [index("test_cases_run").on(t.runId, t.task)],
);

/** The coordinators sharing this database (coordinator/cluster): each heartbeats its row while it runs. */
export const clusterNodes = sqliteTable("cluster_nodes", {
  id: text("id").primaryKey(),
  /** where other nodes, agents and load balancers reach it (DROVER_NODE_URL / --advertise-url) */
  url: text("url").notNull(),
  startedAt: integer("started_at").notNull(),
  lastSeenAt: integer("last_seen_at").notNull(),
  /** agents with a live connection to this node at its last heartbeat */
  agents: integer("agents").notNull().default(0),
  draining: integer("draining", { mode: "boolean" }).notNull().default(false),
});

/** A duty that must run on one node at a time (cron ticks, polling, GC), held by compare-and-set on `epoch`. */
export const dutyLeases = sqliteTable("duty_leases", {
  name: text("name").primaryKey(),
  /** the holding node's id; empty when never held or released */
  holder: text("holder").notNull().default(""),
  /** one more at every change of holder, so a holder's tenure is told apart from the next */
  epoch: integer("epoch").notNull().default(0),
  expiresAt: integer("expires_at").notNull().default(0),
});

/**
 * Never holds a row: a run's write batch starts by inserting NULL here unless the writing node still owns the
 * run's lease at its epoch, so a node that lost the lease has its whole batch refused (cluster/run-leases.ts).
 */
export const runFences = sqliteTable("run_fences", {
  ok: integer("ok").notNull(),
  /** the same for a run admitted past its group's concurrency limit, counted in the database across nodes */
  admitted: integer("admitted").notNull().default(1),
});
