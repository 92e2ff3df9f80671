import { and, type AnyColumn, desc, eq, getTableColumns, gte, lte, type SQL, sql } from "drizzle-orm";
import { encodeTime } from "ulid";
import type { Db } from "../db/open.ts";
import { agents, attempts } from "../db/schema.ts";

/** The latest time a ULID can hold; windows beyond it mean nothing. */
export const MAX_TIME = 2 ** 48 - 1;

export interface AttemptFilter {
  run?: string;
  name?: string;
  digest?: string;
  agent?: string;
  state?: string;
  /** bounds on readyAt, epoch ms, inclusive */
  since?: number;
  until?: number;
  limit: number;
}

/** The smallest ULID minted at or after `ms` (a readyAt's fraction aside: ids are minted in whole milliseconds). */
export const ulidFloor = (ms: number) => `${encodeTime(Math.floor(ms), 10)}${"0".repeat(16)}`;

/**
 * One index leads each query: the first of run, digest, name and agent given
 * (a state matches too many attempts to lead). The other equalities are written
 * `+column = ?`, which SQLite never serves from an index: without table
 * statistics it would as soon walk every attempt of a name to find one run's few.
 * Without a leading filter, attempts come newest first by id (a ULID), the order
 * of the primary key index, rather than sorted by readyAt, which has no index.
 */
export function attemptsQuery(db: Db, f: AttemptFilter) {
  const equalities: [AnyColumn, string | undefined][] = [
    [attempts.runId, f.run],
    [attempts.digest, f.digest],
    [attempts.taskName, f.name],
    [attempts.agentId, f.agent],
    [attempts.state, f.state],
  ];
  const lead = equalities.slice(0, 4).find(([, value]) => value)?.[0];
  const where: SQL[] = equalities
    .filter(([, value]) => value)
    .map(([column, value]) => (column === lead ? eq(column, value) : sql`+${column} = ${value}`));
  // a run lists the attempts it kept from an earlier run; history counts each execution once
  if (!f.run) where.push(sql`${attempts.keptFrom} IS NULL`);
  if (f.since) where.push(gte(attempts.readyAt, f.since));
  if (f.until) where.push(lte(attempts.readyAt, f.until));
  // Attempt ids are ULIDs minted just after their readyAt (restart copies even later), so a window's
  // start bounds the id too, and the primary key index serves windows that no other filter narrows.
  if (!lead && f.since) where.push(gte(attempts.id, ulidFloor(f.since)));
  return db
    .select({ ...getTableColumns(attempts), agentName: agents.name })
    .from(attempts)
    .leftJoin(agents, eq(agents.id, attempts.agentId))
    .where(and(...where))
    .orderBy(lead ? desc(attempts.readyAt) : desc(attempts.id))
    .limit(f.limit);
}

export type AttemptHistoryRow = Awaited<ReturnType<typeof attemptsQuery>>[number] & { durationMs: number | null };

/** Attempts newest first, each with its run time (start to end) in ms once it has ended. */
export async function listAttempts(db: Db, filter: AttemptFilter): Promise<AttemptHistoryRow[]> {
  const rows = await attemptsQuery(db, filter);
  return rows.map((row) => ({
    ...row,
    durationMs: row.startedAt !== null && row.endedAt !== null ? row.endedAt - row.startedAt : null,
  }));
}
