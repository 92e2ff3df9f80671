import { getTableColumns, getTableName } from "drizzle-orm";
import { executeTogether } from "../db/batch.ts";
import type { Db } from "../db/open.ts";
import { attempts } from "../db/schema.ts";
import { ATTEMPT_TRANSITIONS, type AttemptEvent } from "../engine/attempt-transitions.ts";
import type { AttemptRow } from "./active-run.ts";

const COLUMNS = getTableColumns(attempts);

/**
 * The conditional updates of `Scheduler.transition`, their SQL built once per event and set of columns (drizzle
 * builds a query's SQL anew at each run otherwise, a quarter of the CPU of an attempt's moves). They go through
 * `executeTogether`: the moves asked for in the same turn of the event loop share one commit, each answered after it.
 */
export class TransitionQueries {
  private readonly built = new Map<string, string>();

  constructor(private readonly db: Db) {}

  /** Moves the attempt if it is still in a state `event` moves from; whether it moved. */
  async run(event: AttemptEvent, attemptId: string, patch: Partial<AttemptRow>): Promise<boolean> {
    const columns = (Object.keys(patch) as (keyof AttemptRow)[]).filter((k) => patch[k] !== undefined);
    const key = `${event} ${columns.join(" ")}`;
    let sql = this.built.get(key);
    if (!sql) {
      sql = build(event, columns);
      this.built.set(key, sql);
    }
    const args = columns.map((c) => COLUMNS[c].mapToDriverValue(patch[c] as never) as never);
    const [result] = await executeTogether(this.db, [{ sql, args: [...args, attemptId] }]);
    return result!.rowsAffected === 1;
  }
}

function build(event: AttemptEvent, columns: (keyof AttemptRow)[]): string {
  const set = columns.map((c) => `"${COLUMNS[c].name}" = ?`).join(", ");
  const from = ATTEMPT_TRANSITIONS[event].from.map((s) => `'${s}'`).join(", ");
  const { id, state } = COLUMNS;
  // the count of rows changed says whether it moved: a RETURNING clause made the client read rows back, which cost
  // as much again as the update itself
  return `UPDATE "${getTableName(attempts)}" SET ${set} WHERE "${id.name}" = ? AND "${state.name}" IN (${from})`;
}
