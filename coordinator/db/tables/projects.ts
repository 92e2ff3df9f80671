import { index, integer, primaryKey, sqliteTable, text, uniqueIndex } from "drizzle-orm/sqlite-core";

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
