import { integer, primaryKey, sqliteTable, text, uniqueIndex } from "drizzle-orm/sqlite-core";

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
