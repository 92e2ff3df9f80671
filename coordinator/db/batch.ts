import type { InArgs, InStatement, ResultSet } from "@libsql/client";
import { getTableColumns } from "drizzle-orm";
import type { BatchItem } from "drizzle-orm/batch";
import type { SQLiteInsertValue, SQLiteTable } from "drizzle-orm/sqlite-core";
import type { Db } from "./open.ts";

/** A write of a batch: a drizzle query, or plain SQL and arguments (plain-statements.ts). */
export type Write = BatchItem<"sqlite"> | InStatement;

/**
 * Writes several statements atomically in one synchronous batch. An interactive
 * transaction would hold SQLite's write lock across awaits, and any other write
 * arriving meanwhile on another pooled connection would block the one thread
 * that could release it. Each drizzle query's result is mapped as drizzle's `db.batch` maps it.
 */
export async function writeAll(db: Db, statements: Write[]): Promise<unknown[]> {
  if (statements.length === 0) return [];
  const prepared = statements.map(plain);
  const results = await db.$client.batch(prepared.map((p) => p.statement));
  return results.map((r, i) => prepared[i]!.map(r));
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

/**
 * Gathers what arrives while a group waits for its turn (a group commit), at most `max` a group: `schedule` is
 * called once per new group, with `take`, which hands over the group's items when its turn comes and closes it.
 */
export class Gatherer<K extends object, T> {
  private readonly open = new WeakMap<K, T[]>();

  constructor(
    private readonly max: number,
    private readonly schedule: (key: K, take: () => T[]) => void,
  ) {}

  add(key: K, item: T): void {
    let group = this.open.get(key);
    if (!group || group.length >= this.max) {
      const next: T[] = [];
      group = next;
      this.open.set(key, next);
      this.schedule(key, () => {
        if (this.open.get(key) === next) this.open.delete(key);
        return next;
      });
    }
    group.push(item);
  }
}

interface Joining {
  statements: InStatement[];
  written: (results: ResultSet[]) => void;
  refused: (e: unknown) => void;
}

/** At most this many batches go in one joint write, so none holds the event loop for long; per database. */
const joining = new Gatherer<Db, Joining>(64, (db, take) => setImmediate(() => void writeJoined(db, take())));

/**
 * Writes a batch atomically, together with the other batches asked for in the same turn of the event loop:
 * one transaction, one commit, for all (a group commit; each commit costs SQLite ~150 µs here). Resolves with the
 * caller's own results once they are committed. Each batch stays atomic: should the joint write fail, each is
 * written again alone, so a refused batch refuses none of the others. Inside `serial`, a write waits a turn for
 * the others; the attempt moves and step starts of that turn's reports share its commit.
 */
export function executeTogether(db: Db, statements: InStatement[]): Promise<ResultSet[]> {
  if (statements.length === 0) return Promise.resolve([]);
  return new Promise((written, refused) => joining.add(db, { statements, written, refused }));
}

/** drizzle's own steps for a query of a batch (as its `db.batch` takes them): its SQL, and its result mapped */
interface Preparable {
  _prepare(): { getQuery(): { sql: string; params: InArgs }; mapResult(result: ResultSet, isFromBatch: boolean): unknown };
}

/** A write as the libSQL client takes it, and how its result is read back. */
function plain(write: Write): { statement: InStatement; map: (result: ResultSet) => unknown } {
  if (typeof (write as Partial<Preparable>)._prepare !== "function") return { statement: write as InStatement, map: (r) => r };
  const prepared = (write as unknown as Preparable)._prepare();
  const { sql, params } = prepared.getQuery();
  return { statement: { sql, args: params }, map: (r) => prepared.mapResult(r, true) };
}

/** `executeTogether` for drizzle's queries (or plain statements), each drizzle result mapped as drizzle's `db.batch` maps it. */
export async function writeTogether(db: Db, statements: Write[]): Promise<unknown[]> {
  const prepared = statements.map(plain);
  const results = await executeTogether(
    db,
    prepared.map((p) => p.statement),
  );
  return results.map((r, i) => prepared[i]!.map(r));
}

async function writeJoined(db: Db, group: Joining[]): Promise<void> {
  let results: ResultSet[];
  try {
    results = await db.$client.batch(group.flatMap((b) => b.statements));
  } catch (e) {
    if (group.length === 1) return group[0]!.refused(e);
    for (const b of group) await db.$client.batch(b.statements).then(b.written, b.refused);
    return;
  }
  let at = 0;
  for (const b of group) {
    b.written(results.slice(at, at + b.statements.length));
    at += b.statements.length;
  }
}
