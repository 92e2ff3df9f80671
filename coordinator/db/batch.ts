import type { BatchItem } from "drizzle-orm/batch";
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
