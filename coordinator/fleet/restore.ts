import { inArray } from "drizzle-orm";
import type { Db } from "../db/open.ts";
import { agents } from "../db/schema.ts";
import type { Fleet } from "./fleet.ts";

/**
 * After a coordinator restart, agents that were online get a fresh lease to reconnect in; those that don't
 * come back lapse, and their attempts are lost. Agents another live node holds are that node's.
 */
export async function restoreFleet(db: Db, fleet: Fleet, node: string, liveNodes: ReadonlySet<string>, now = Date.now()): Promise<void> {
  const rows = await db.select().from(agents);
  const restored: string[] = [];
  for (const row of rows) {
    fleet.known.set(row.id, row);
    if (row.state === "offline" || (row.nodeId && liveNodes.has(row.nodeId))) continue;
    row.leaseExpiresAt = now + fleet.leaseTtlMs;
    row.nodeId = node;
    restored.push(row.id);
    fleet.agents.set(row.id, { row, socket: null, running: new Map(), draining: row.state === "draining" || row.paused });
  }
  // stored too, so that no other node retires them as agents of a dead node while they reconnect here
  if (restored.length) {
    await db
      .update(agents)
      .set({ leaseExpiresAt: now + fleet.leaseTtlMs, nodeId: node })
      .where(inArray(agents.id, restored));
  }
}
