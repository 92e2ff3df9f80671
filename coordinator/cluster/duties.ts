import { and, eq, lt, or, sql } from "drizzle-orm";
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
 * Takes or renews a duty's lease in one compare-and-set: it succeeds when this node holds it already or the
 * holder's lease has run out. The epoch goes up only when the holder changes, so it numbers tenures.
 * Returns the epoch held, or null when another node holds the lease.
 */
export async function holdDuty(db: Db, name: Duty, node: string, now: number, ttlMs: number): Promise<number | null> {
  const [row] = await db
    .update(dutyLeases)
    .set({
      holder: node,
      epoch: sql`CASE WHEN ${dutyLeases.holder} = ${node} THEN ${dutyLeases.epoch} ELSE ${dutyLeases.epoch} + 1 END`,
      expiresAt: now + ttlMs,
    })
    .where(and(eq(dutyLeases.name, name), or(eq(dutyLeases.holder, node), lt(dutyLeases.expiresAt, now))))
    .returning({ epoch: dutyLeases.epoch });
  return row?.epoch ?? null;
}

/** Gives up every lease this node holds, so another node takes them at its next pass instead of at expiry. */
export async function releaseDuties(db: Db, node: string): Promise<void> {
  await db.update(dutyLeases).set({ holder: "", expiresAt: 0 }).where(eq(dutyLeases.holder, node));
}

export function listDuties(db: Db): Promise<DutyLease[]> {
  return db.select().from(dutyLeases).orderBy(dutyLeases.name);
}
