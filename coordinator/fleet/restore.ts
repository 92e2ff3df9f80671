import type { Db } from "../db/open.ts";
import { agents } from "../db/schema.ts";
import type { Fleet } from "./fleet.ts";

/**
 * After a coordinator restart, agents that were online get a fresh lease to
 * reconnect in; those that don't come back lapse, and their attempts are lost.
 */
export async function restoreFleet(db: Db, fleet: Fleet, now = Date.now()): Promise<void> {
  const rows = await db.select().from(agents);
  for (const row of rows) {
    fleet.known.set(row.id, row);
    if (row.state === "offline") continue;
    row.leaseExpiresAt = now + fleet.leaseTtlMs;
    fleet.agents.set(row.id, { row, socket: null, running: new Map(), draining: row.state === "draining" || row.paused });
  }
}
