import { integer, primaryKey, sqliteTable, text } from "drizzle-orm/sqlite-core";
import { json } from "./columns.ts";

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
