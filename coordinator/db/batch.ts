import { getTableColumns } from "drizzle-orm";
import type { BatchItem } from "drizzle-orm/batch";
import type { SQLiteInsertValue, SQLiteTable } from "drizzle-orm/sqlite-core";
import type { Db } from "./open.ts";

/**
 * Writes several statements atomically in one synchronous batch. An interactive
 * transaction would hold SQLite's write lock across awaits, and any other write
 * arriving meanwhile on another pooled connection would block the one thread
 * that could release it.
 */
export async function writeAll(db: Db, statements: BatchItem<"sqlite">[]): Promise<unknown[]> {
  if (statements.length === 0) return [];
  return db.batch(statements as [BatchItem<"sqlite">, ...BatchItem<"sqlite">[]]);
}

/** SQLite refuses a statement with more bound parameters than this (SQLITE_MAX_VARIABLE_NUMBER since 3.32). */
export const MAX_VARIABLES = 32_766;

/**
 * One insert per slice of `rows`, each under SQLite's bound-parameter limit, for a `writeAll` batch:
 * a run of a thousand tasks, or a restart keeping all their steps, stays one atomic write.
 */
export function chunkedInserts<T extends SQLiteTable>(db: Db, table: T, rows: SQLiteInsertValue<T>[]): BatchItem<"sqlite">[] {
  if (rows.length === 0) return [];
  const perRow = Object.keys(getTableColumns(table)).length;
  const size = Math.max(1, Math.floor(MAX_VARIABLES / perRow));
  const inserts: BatchItem<"sqlite">[] = [];
  for (let i = 0; i < rows.length; i += size) inserts.push(db.insert(table).values(rows.slice(i, i + size)));
  return inserts;
}
