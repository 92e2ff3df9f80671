import Database from "libsql";
import { waitForLocks } from "./lock-wait.ts";

/**
 * `@libsql/client` prepares every statement anew on each execute: 18 µs of SQLite's parser and planner
 * per statement here, the largest single cost of the coordinator's writes (a heartbeat flush of fifty
 * agents prepares the same UPDATE fifty times). SQLite statements are meant to be kept and rerun, so
 * each connection keeps its most recent ones by SQL text. The client resets nothing itself: a statement
 * is reset when it is bound again, and every use runs it to its end (`all` or `run`), so no cached one
 * holds a read transaction open. The client also asks each statement for its columns twice per execute,
 * and libsql builds them afresh each time (37% of the CPU of a select by primary key): a kept statement
 * keeps them too. Columns change only with the schema, so a connection that prepares DDL (migrations)
 * drops what it kept.
 */
const KEPT_PER_CONNECTION = 256;
/** multi-row inserts (thousands of parameters) vary in length and prepare once per many rows anyway */
export const LONGEST_KEPT_SQL = 4096;
const SCHEMA_CHANGE = /^\s*(create|alter|drop)\b/i;

type Connection = Database.Database;
type Statement = Database.Statement;
const kept = new WeakMap<Connection, Map<string, Statement>>();
let installed = false;
let hits = 0;

/** Makes every libsql connection of this process keep its prepared statements, each waiting for locks (lock-wait.ts); idempotent. */
export function keepPreparedStatements(): void {
  if (installed) return;
  installed = true;
  const original = Database.prototype.prepare;
  const prepare = (db: Connection, sql: string) => {
    const statement = original.call(db, sql);
    waitForLocks(statement);
    return statement;
  };
  Database.prototype.prepare = function (this: Connection, sql: string) {
    if (SCHEMA_CHANGE.test(sql)) {
      kept.delete(this);
      return prepare(this, sql);
    }
    if (sql.length > LONGEST_KEPT_SQL) return prepare(this, sql);
    let statements = kept.get(this);
    if (!statements) {
      statements = new Map();
      kept.set(this, statements);
    }
    const found = statements.get(sql);
    if (found) {
      hits++;
      // most recently used last, so the first key is the one to drop
      statements.delete(sql);
      statements.set(sql, found);
      return found;
    }
    const statement = prepare(this, sql);
    const columns = statement.columns.bind(statement);
    let known: ReturnType<Statement["columns"]> | undefined;
    statement.columns = () => {
      known ??= columns();
      return known;
    };
    keepModes(statement);
    statements.set(sql, statement);
    if (statements.size > KEPT_PER_CONNECTION) statements.delete(statements.keys().next().value!);
    return statement;
  } as Connection["prepare"];
}

/**
 * The client sets a statement's integer and raw modes before each execute, always to the same values, and a
 * statement that returns no rows refuses raw mode by throwing: a native error made anew each time, with its stack
 * (4% of the coordinator's CPU with many small writes). A kept statement sets each mode once and keeps the answer.
 */
function keepModes(statement: Statement): void {
  const setRaw = statement.raw.bind(statement);
  const setSafe = statement.safeIntegers.bind(statement);
  let raw: { on: boolean; refused?: unknown } | undefined;
  let safe: boolean | undefined;
  statement.raw = (on = true) => {
    if (raw?.on !== on) {
      try {
        setRaw(on);
        raw = { on };
      } catch (e) {
        raw = { on, refused: e };
      }
    }
    if (raw.refused) throw raw.refused;
    return statement;
  };
  statement.safeIntegers = (on = true) => {
    if (safe !== on) setSafe(on);
    safe = on;
    return statement;
  };
}

/** How many prepares a kept statement answered (for the tests). */
export function keptStatementHits(): number {
  return hits;
}
