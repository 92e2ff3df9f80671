import { FINAL_RUN_PHASES, FINAL_TASK_STATUSES, type RunPhase, type TaskStatus } from "./types.ts";

/**
 * The engine's answers to commands from outside (approve, rerun, restart, group admission): pure
 * decisions on the state given, which the shells store and apply. A refusal says why.
 */
export type Decision<T> = { ok: true; value: T } | { ok: false; refusal: "not_found" | "conflict"; message: string };
const refuse = (refusal: "not_found" | "conflict", message: string) => ({ ok: false, refusal, message }) as const;
const accept = <T>(value: T): Decision<T> => ({ ok: true, value });

interface CommandTask {
  name: string;
  status: TaskStatus;
  approvers: string[];
  depends: { task: string }[];
}

/** A user approves a task waiting for approval: the new list of approvers. */
export function approve(task: CommandTask | undefined, name: string, user: string): Decision<string[]> {
  if (!task) return refuse("not_found", `task ${name} not found`);
  if (task.status !== "waiting_approval") return refuse("conflict", `task ${name} is ${task.status}, not waiting for approval`);
  if (task.approvers.includes(user)) return refuse("conflict", `${user} already approved ${name}`);
  return accept([...task.approvers, user]);
}

/**
 * A finished task runs again in its run: it and its dependants that did not succeed go back to
 * `notstarted` (`tasks`, their names), and a run that had ended is running again (`run`, its new phase
 * and result; null when it had not ended).
 */
export function rerun(
  run: { phase: RunPhase },
  tasks: CommandTask[],
  name: string,
): Decision<{ tasks: string[]; run: { phase: "running"; result: "unknown" } | null }> {
  const task = tasks.find((t) => t.name === name);
  if (!task) return refuse("not_found", `task ${name} not found`);
  if (!FINAL_TASK_STATUSES.has(task.status)) return refuse("conflict", `task ${name} is ${task.status}`);
  const found = new Set([name]);
  for (let grew = true; grew; ) {
    grew = false;
    for (const t of tasks) {
      if (!found.has(t.name) && t.depends.some((d) => found.has(d.task))) {
        found.add(t.name);
        grew = true;
      }
    }
  }
  return accept({
    tasks: tasks.filter((t) => t.name === name || (found.has(t.name) && t.status !== "success")).map((t) => t.name),
    run: FINAL_RUN_PHASES.has(run.phase) ? { phase: "running", result: "unknown" } : null,
  });
}

/** A restart needs a run that ended; from "failed", the tasks that succeeded keep their results (the names). */
export function restart(run: { id: string; phase: RunPhase }, tasks: CommandTask[], from: "scratch" | "failed"): Decision<string[]> {
  if (!FINAL_RUN_PHASES.has(run.phase)) return refuse("conflict", `run ${run.id} is still ${run.phase}`);
  return accept(from === "failed" ? tasks.filter((t) => t.status === "success").map((t) => t.name) : []);
}

interface GroupRun {
  id: string;
  group: string;
  phase: RunPhase;
}

/**
 * Group admission: with a concurrency limit, a group's runs start in FIFO (run id) order as slots free
 * up; a run whose cancel was asked, or that cannot be set up, needs no slot (it ends without starting).
 */
export function admitted(
  run: GroupRun & { cancelRequested: boolean; setupError?: string | null },
  others: Iterable<GroupRun>,
  limit: number | undefined,
): boolean {
  if (run.phase !== "queued" || run.cancelRequested || run.setupError || limit === undefined) return true;
  let running = 0;
  for (const other of others) {
    if (other.group !== run.group || other.id === run.id) continue;
    if (other.phase === "running") running++;
    else if (other.phase === "queued" && other.id < run.id) return false;
  }
  return running < limit;
}
