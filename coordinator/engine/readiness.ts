import type { Condition, EngineTask, TaskStatus } from "./types.ts";
import { FINAL_TASK_STATUSES } from "./types.ts";

const CONDITION_FOR: Partial<Record<TaskStatus, Condition>> = {
  success: "on_success",
  failed: "on_failure",
  skipped: "on_skipped",
};

/** A task may start once every parent is final and each parent's outcome is one its conditions accept. */
export function readiness(task: EngineTask, byName: Map<string, EngineTask>): "wait" | "run" | "skip" {
  let matches = true;
  for (const dep of task.depends) {
    const parent = byName.get(dep.task);
    if (!parent) return "skip";
    if (!FINAL_TASK_STATUSES.has(parent.status)) return "wait";
    const outcome = parent.status === "failed" && parent.ignoreFailure ? "on_success" : CONDITION_FOR[parent.status];
    if (!outcome || !dep.conditions.includes(outcome)) matches = false;
  }
  return matches ? "run" : "skip";
}
