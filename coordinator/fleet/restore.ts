import type { Db } from "../db/open.ts";
import { ON_AGENT_STATES } from "../../shared/states.ts";
import { agents } from "../db/schema.ts";
import type { Scheduler } from "../runs/scheduler.ts";
import type { Fleet } from "./fleet.ts";
import { requested } from "./placement.ts";

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
    fleet.agents.set(row.id, { row, socket: null, running: new Map(), draining: row.state === "draining" });
  }
}

/**
 * After the scheduler has loaded the open runs: each agent's slots hold the attempts stored as
 * assigned to or running on it, before it can reconnect and be chosen, so that an agent whose
 * finished attempts are not yet acknowledged is never given more than its capacity.
 */
export function restoreSlots(fleet: Fleet, scheduler: Scheduler): void {
  for (const active of scheduler.active.values()) {
    for (const a of active.attempts.values()) {
      if (a.agentId === null || !ON_AGENT_STATES.has(a.state)) continue;
      fleet.agents.get(a.agentId)?.running.set(a.id, requested(active.tasks.get(a.taskId)!.spec));
    }
  }
}
