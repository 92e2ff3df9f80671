import { index, integer, primaryKey, sqliteTable, text, uniqueIndex } from "drizzle-orm/sqlite-core";
import { json } from "./columns.ts";

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
