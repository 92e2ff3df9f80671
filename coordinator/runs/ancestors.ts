import { byLevelThenName } from "../engine/advance.ts";
import type { ActiveRun, AttemptRow, TaskRow } from "./active-run.ts";

/** Every task the given one depends on, directly or not, in level-then-name order. */
export function ancestors(active: ActiveRun, task: TaskRow): TaskRow[] {
  const byName = new Map([...active.tasks.values()].map((t) => [t.name, t]));
  const found = new Map<string, TaskRow>();
  const visit = (t: TaskRow) => {
    for (const dep of t.spec.depends) {
      const parent = byName.get(dep.task);
      if (parent && !found.has(parent.name)) {
        found.set(parent.name, parent);
        visit(parent);
      }
    }
  };
  visit(task);
  return [...found.values()].sort(byLevelThenName);
}

/**
 * The ancestors whose work a task builds on, each with its latest successful attempt, in
 * level-then-name order. The run is active, so memory holds all its attempts: no query.
 */
export function succeededAncestors(active: ActiveRun, task: TaskRow): { task: TaskRow; attempt: AttemptRow }[] {
  const latest = new Map<string, AttemptRow>();
  for (const a of active.attempts.values()) {
    const seen = latest.get(a.taskId);
    if (a.state === "success" && (!seen || a.number > seen.number)) latest.set(a.taskId, a);
  }
  return ancestors(active, task).flatMap((t) => {
    const attempt = latest.get(t.id);
    return attempt ? [{ task: t, attempt }] : [];
  });
}
