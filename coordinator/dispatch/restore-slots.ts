import { ON_AGENT_STATES } from "../../shared/states.ts";
import type { Scheduler } from "../runs/scheduler.ts";
import type { Fleet } from "../fleet/fleet.ts";
import { requested } from "./placement.ts";

/**
 * After the scheduler has loaded the open runs: each agent's slots hold the attempts stored as
 * assigned to or running on it, before it can reconnect and be chosen, so that an agent whose
 * finished attempts are not yet acknowledged is never given more than its capacity.
 */
export function restoreSlots(fleet: Fleet, scheduler: Scheduler): void {
  for (const active of scheduler.active.values()) {
    for (const a of active.attempts.values()) {
      if (a.agentId === null || !ON_AGENT_STATES.has(a.state)) continue;
      const agent = fleet.agents.get(a.agentId);
      if (agent) fleet.take(agent, a.id, requested(active.tasks.get(a.taskId)!.spec));
    }
  }
}
