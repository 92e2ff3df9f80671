import { integer, primaryKey, sqliteTable, text } from "drizzle-orm/sqlite-core";

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
