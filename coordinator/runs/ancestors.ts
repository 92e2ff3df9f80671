import { byLevelThenName } from "../engine/advance.ts";
import type { ActiveRun, TaskRow } from "./active-run.ts";

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
