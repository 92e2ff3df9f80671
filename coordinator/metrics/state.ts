import { sql } from "drizzle-orm";
import type { Db } from "../db/open.ts";
import { runs } from "../db/schema.ts";
import type { Dispatcher } from "../dispatch/dispatcher.ts";
import type { Fleet } from "../fleet/fleet.ts";
import { queueDepth } from "../dispatch/queue-depth.ts";
import type { Scheduler } from "../runs/scheduler.ts";
import { registerStateGauges } from "./registry.ts";

const count = (values: Iterable<string>) => {
  const counts: Record<string, number> = {};
  for (const v of values) counts[v] = (counts[v] ?? 0) + 1;
  return counts;
};

export function exposeState(db: Db, scheduler: Scheduler, fleet: Fleet, dispatcher: Dispatcher): void {
  registerStateGauges({
    async runsByPhase() {
      const rows = await db.select({ phase: runs.phase, n: sql<number>`count(*)` }).from(runs).groupBy(runs.phase);
      return Object.fromEntries(rows.map((r) => [r.phase, r.n]));
    },
    // the runs this node drives: it alone keeps their tasks' statuses current (and the nodes' figures add up)
    tasksByStatus: () =>
      count(
        [...scheduler.active.values()]
          .filter((a) => scheduler.leases.owns(a.run.id))
          .flatMap((a) => [...a.tasks.values()].map((t) => t.status)),
      ),
    agentsByState: () => count([...fleet.known.values()].map((a) => a.state)),
    queueLength: () => dispatcher.length,
    queueDepth: () => queueDepth(dispatcher.waiting(), { byLabels: false }),
  });
}
