import { FINAL_TASK_STATUSES } from "../../shared/states.ts";
import { byLevelThenName } from "../engine/advance.ts";
import type { OnlineAgent } from "../fleet/fleet.ts";
import type { ActiveRun, TaskRow } from "../runs/active-run.ts";
import { ancestors } from "../runs/ancestors.ts";
import { pickAgent } from "./placement.ts";

/**
 * The task that will restore what `task` saves to the workspace: the first (by level, then name) not yet
 * ended that depends on it, directly or not, and has a restore_workspace step; none when no task does.
 */
export function restoringTask(active: ActiveRun, task: TaskRow): TaskRow | undefined {
  return [...active.tasks.values()]
    .filter(
      (t) =>
        !FINAL_TASK_STATUSES.has(t.status) &&
        t.spec.steps.some((s) => s.kind === "restore_workspace") &&
        ancestors(active, t).some((a) => a.id === task.id),
    )
    .sort(byLevelThenName)[0];
}

/**
 * The agent to prefetch a workspace to for `downstream`: the one it would most likely be placed on now,
 * among the agents that said they take prefetches and have room for another, other than the saving
 * agent (which keeps its own copy when it keeps any).
 */
export function prefetchAgent(
  agents: Iterable<OnlineAgent>,
  downstream: TaskRow,
  saver: string,
  hasRoom: (agent: OnlineAgent) => boolean,
): OnlineAgent | undefined {
  const takers = [...agents].filter((a) => a.row.id !== saver && a.prefetch && hasRoom(a));
  return pickAgent(takers, downstream.spec);
}
