import { integer, primaryKey, sqliteTable, text } from "drizzle-orm/sqlite-core";

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
