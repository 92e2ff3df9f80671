import { and, eq, inArray, sql } from "drizzle-orm";
import type { Db } from "../db/open.ts";
import { attempts } from "../db/schema.ts";
import { ATTEMPT_TRANSITIONS, type AttemptEvent } from "../engine/attempt-transitions.ts";
import type { AttemptRow } from "./active-run.ts";

/** the placeholder of a prepared transition's attempt id (the others are named for their columns) */
const ATTEMPT_ID = "transition_attempt_id";

/**
 * The conditional updates of `Scheduler.transition`, prepared once per event and set of columns: drizzle builds a
 * query's SQL anew at each run otherwise, which was a quarter of the CPU of an attempt's moves (three per task).
 */
export class TransitionQueries {
  private readonly prepared = new Map<string, ReturnType<TransitionQueries["prepare"]>>();

  constructor(private readonly db: Db) {}

  /** Moves the attempt if it is still in a state `event` moves from; the rows it moved (none, or the attempt). */
  run(event: AttemptEvent, attemptId: string, patch: Partial<AttemptRow>): Promise<{ id: string }[]> {
    const columns = Object.keys(patch).filter((k) => patch[k as keyof AttemptRow] !== undefined);
    const key = `${event} ${columns.join(" ")}`;
    let query = this.prepared.get(key);
    if (!query) {
      query = this.prepare(event, columns);
      this.prepared.set(key, query);
    }
    return query.all({ ...patch, [ATTEMPT_ID]: attemptId });
  }

  private prepare(event: AttemptEvent, columns: string[]) {
    const set = Object.fromEntries(columns.map((c) => [c, sql.placeholder(c)]));
    return this.db
      .update(attempts)
      .set(set)
      .where(and(eq(attempts.id, sql.placeholder(ATTEMPT_ID)), inArray(attempts.state, [...ATTEMPT_TRANSITIONS[event].from])))
      .returning({ id: attempts.id })
      .prepare();
  }
}
