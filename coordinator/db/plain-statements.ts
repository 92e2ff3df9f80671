import type { InStatement, InValue } from "@libsql/client";
import { type Column, getTableColumns, getTableName, is, SQL } from "drizzle-orm";
import type { SQLiteInsertValue, SQLiteTable } from "drizzle-orm/sqlite-core";
import { MAX_VARIABLES } from "./batch.ts";
import { LONGEST_KEPT_SQL } from "./statement-cache.ts";

/**
 * Writes of the per-task path as plain SQL and arguments, their text built once per table and shape: drizzle
 * builds a query's SQL anew at each run, about a tenth of the coordinator's CPU per task when every attempt's
 * insert and every task's update went through it. The values are mapped as drizzle maps them (json, booleans).
 */
const built = new Map<string, string>();

function once(key: string, build: () => string): string {
  let sql = built.get(key);
  if (sql === undefined) {
    sql = build();
    // a longer text (an insert of many rows, its length varying with their count) is built each time, as it is
    // prepared each time
    if (sql.length <= LONGEST_KEPT_SQL) built.set(key, sql);
  }
  return sql;
}

const driverValue = (column: Column, value: unknown): InValue =>
  value === null ? null : (column.mapToDriverValue(value) as InValue);

/** A column left out of a row gets its default, as drizzle's insert gives it; a default in SQL is not supported here. */
function insertedValue(column: Column, value: unknown): InValue {
  if (value !== undefined) return driverValue(column, value);
  const fallback = column.default ?? column.defaultFn?.();
  if (is(fallback, SQL)) throw new Error(`a plain insert needs a value for ${column.name} (its default is SQL)`);
  return fallback === undefined ? null : driverValue(column, fallback);
}

const insertable = new WeakMap<SQLiteTable, [string, Column][]>();

/** The columns an insert into `table` writes: drizzle leaves generated ones out (`shouldDisableInsert`, not in its types). */
function insertedColumns(table: SQLiteTable): [string, Column][] {
  let columns = insertable.get(table);
  if (!columns) {
    columns = Object.entries(getTableColumns(table) as Record<string, Column>).filter(
      ([, c]) => !(c as unknown as { shouldDisableInsert(): boolean }).shouldDisableInsert(),
    );
    insertable.set(table, columns);
  }
  return columns;
}

/**
 * Inserts `rows` into `table`: one statement per slice of rows under SQLite's bound-parameter limit. `onConflict`
 * is SQL put after the values (`ON CONFLICT …`), the same for every call from one place.
 */
export function insertRows<T extends SQLiteTable>(table: T, rows: SQLiteInsertValue<T>[], onConflict = ""): InStatement[] {
  const columns = insertedColumns(table);
  const size = Math.max(1, Math.floor(MAX_VARIABLES / columns.length));
  const name = getTableName(table);
  const statements: InStatement[] = [];
  for (let i = 0; i < rows.length; i += size) {
    const slice = rows.slice(i, i + size);
    const sql = once(`insert ${name} ${slice.length} ${onConflict}`, () => {
      const row = `(${columns.map(() => "?").join(", ")})`;
      const values = Array(slice.length).fill(row).join(", ");
      return `INSERT INTO "${name}" (${columns.map(([, c]) => `"${c.name}"`).join(", ")}) VALUES ${values} ${onConflict}`;
    });
    const args: InValue[] = [];
    for (const row of slice) for (const [key, column] of columns) args.push(insertedValue(column, (row as Record<string, unknown>)[key]));
    statements.push({ sql, args });
  }
  return statements;
}

type Columns<T extends SQLiteTable> = Partial<Record<keyof T["_"]["columns"] & string, unknown>>;

/** Sets `patch`'s columns (those not undefined) of the rows of `table` whose columns are as in `where`. */
export function updateWhere<T extends SQLiteTable>(table: T, patch: Columns<T>, where: Columns<T>): InStatement {
  const all = getTableColumns(table) as Record<string, Column>;
  const set = Object.keys(patch).filter((k) => patch[k as keyof typeof patch] !== undefined);
  const keys = Object.keys(where);
  const name = getTableName(table);
  const sql = once(`update ${name} ${set.join(" ")} where ${keys.join(" ")}`, () => {
    const assignments = set.map((k) => `"${all[k]!.name}" = ?`).join(", ");
    return `UPDATE "${name}" SET ${assignments} WHERE ${keys.map((k) => `"${all[k]!.name}" = ?`).join(" AND ")}`;
  });
  const value = (from: Columns<T>, k: string) => driverValue(all[k]!, from[k as keyof typeof from]);
  return { sql, args: [...set.map((k) => value(patch, k)), ...keys.map((k) => value(where, k))] };
}
