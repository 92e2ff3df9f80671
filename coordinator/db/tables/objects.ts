import { index, integer, primaryKey, sqliteTable, text } from "drizzle-orm/sqlite-core";
import { runs } from "./runs.ts";

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
