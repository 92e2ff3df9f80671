import type { ActiveRun } from "./active-run.ts";

/** per run, the names its tasks' `depends` list, and how many tasks they were read from */
const named = new WeakMap<ActiveRun, { tasks: number; names: Set<string> }>();

/** Whether another task of the run names `task` in its `depends`: worked out once per run, not per question. */
export function dependedOn(active: ActiveRun, task: string): boolean {
  let found = named.get(active);
  if (!found || found.tasks !== active.tasks.size) {
    found = { tasks: active.tasks.size, names: new Set() };
    for (const t of active.tasks.values()) for (const d of t.spec.depends) found.names.add(d.task);
    named.set(active, found);
  }
  return found.names.has(task);
}
