import { and, eq, inArray, lt, or, sql } from "drizzle-orm";
import type { Db } from "../db/open.ts";
import { dutyLeases } from "../db/schema.ts";

/** The work that must run on one node at a time; every node runs it alike, only the holder acts. */
export const DUTIES = ["cron", "polling", "gc", "leases"] as const;
export type Duty = (typeof DUTIES)[number];

export type DutyLease = typeof dutyLeases.$inferSelect;

/** Creates the lease rows once, unheld, so that taking a lease is always one conditional UPDATE. */
export async function ensureDuties(db: Db): Promise<void> {
  await db
    .insert(dutyLeases)
    .values(DUTIES.map((name) => ({ name })))
    .onConflictDoNothing();
}

/**
 * Takes or renews every duty it can in one compare-and-set each, in one statement: a duty is taken when this
 * node holds it already or the holder's lease has run out. The epoch goes up only when the holder changes, so
 * it numbers tenures. Its rows are the duties held, with their epochs (one statement for all: the beat runs
 * every second on every node, and each statement is a fixed cost to an idle coordinator).
 */
export function holdDuties(db: Db, node: string, now: number, ttlMs: number) {
  return db
    .update(dutyLeases)
    .set({
      holder: node,
      epoch: sql`CASE WHEN ${dutyLeases.holder} = ${node} THEN ${dutyLeases.epoch} ELSE ${dutyLeases.epoch} + 1 END`,
      expiresAt: now + ttlMs,
    })
    .where(and(inArray(dutyLeases.name, [...DUTIES]), or(eq(dutyLeases.holder, node), lt(dutyLeases.expiresAt, now))))
    .returning({ name: dutyLeases.name, epoch: dutyLeases.epoch });
}

/** Gives up every lease this node holds, so another node takes them at its next pass instead of at expiry. */
export async function releaseDuties(db: Db, node: string): Promise<void> {
  await db.update(dutyLeases).set({ holder: "", expiresAt: 0 }).where(eq(dutyLeases.holder, node));
}

export function listDuties(db: Db): Promise<DutyLease[]> {
  return db.select().from(dutyLeases).orderBy(dutyLeases.name);
}
