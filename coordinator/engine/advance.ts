import { attemptOutcome } from "./attempt-outcome.ts";
import { readiness } from "./readiness.ts";
import {
  ACTIVE_ATTEMPT_STATES,
  type EngineAction,
  type EngineAttempt,
  type EngineEvent,
  type EngineInput,
  type EngineOutput,
  type EngineTask,
  FINAL_RUN_PHASES,
  FINAL_TASK_STATUSES,
  type RunResult,
  type TaskStatus,
} from "./types.ts";

type Ranked = Pick<EngineTask, "level" | "name">;
export const byLevelThenName = (a: Ranked, b: Ranked) => a.level - b.level || (a.name < b.name ? -1 : 1);

/**
 * The run engine: state in, state and actions out, no I/O. Tasks are visited in
 * (level, name) order so a parent settled in this pass is seen by its children
 * in the same pass, and the output never depends on declaration or storage order.
 */
export function advance({ run, tasks, attempts }: EngineInput): EngineOutput {
  if (FINAL_RUN_PHASES.has(run.phase)) {
    return { run, tasks, actions: [], events: [] };
  }
  // a final task is never changed here: only the others are copied (a run's engine input is mostly final tasks)
  const ordered = tasks.map((t) => (FINAL_TASK_STATUSES.has(t.status) ? t : { ...t })).sort(byLevelThenName);
  const byName = new Map<string, EngineTask>();
  for (const t of ordered) byName.set(t.name, t);
  const attemptsByTask = groupAttempts(attempts);
  const actions: EngineAction[] = [];
  const events: EngineEvent[] = [];
  const setStatus = (task: EngineTask, status: TaskStatus) => {
    if (task.status === status) return;
    task.status = status;
    events.push({ kind: "task", task: task.name, status });
  };
  const start = (task: EngineTask, history: EngineAttempt[]) => {
    actions.push({ type: "create_attempt", taskId: task.id, number: history.length + 1 });
    setStatus(task, "running");
  };

  for (const task of ordered) {
    if (FINAL_TASK_STATUSES.has(task.status)) continue;
    const history = attemptsByTask.get(task.id) ?? [];
    const latest = history.at(-1);
    // a run that cannot be set up stops as a cancelled one does: nothing more starts, what runs is stopped
    if (run.cancelRequested || run.setupError) {
      if (latest && ACTIVE_ATTEMPT_STATES.has(latest.state)) {
        if (!latest.cancelRequested) actions.push({ type: "cancel_attempt", attemptId: latest.id });
      } else {
        setStatus(task, task.status === "running" ? "stopped" : "cancelled");
      }
      continue;
    }
    if (task.status === "running") {
      const outcome = attemptOutcome(task, history);
      if (outcome === "retry") start(task, history);
      else if (outcome !== "active") setStatus(task, outcome);
      continue;
    }
    const ready = readiness(task, byName);
    if (ready === "wait") continue;
    if (ready === "skip") {
      setStatus(task, "skipped");
      continue;
    }
    if (task.approvers.length < task.minApprovers) setStatus(task, "waiting_approval");
    else start(task, history);
  }

  const nextRun = { ...run };
  if (ordered.every((t) => FINAL_TASK_STATUSES.has(t.status))) {
    nextRun.phase = run.setupError ? "setuperror" : run.cancelRequested ? "cancelled" : "finished";
    nextRun.result = run.setupError ? "error" : runResult(ordered);
  } else if (run.phase === "queued") {
    nextRun.phase = "running";
  }
  if (nextRun.phase !== run.phase || nextRun.result !== run.result) {
    events.push({ kind: "run", phase: nextRun.phase, result: nextRun.result, ...(nextRun.phase === "setuperror" && { error: run.setupError! }) });
  }
  return { run: nextRun, tasks: ordered, actions, events };
}

function groupAttempts(attempts: EngineAttempt[]): Map<string, EngineAttempt[]> {
  const grouped = new Map<string, EngineAttempt[]>();
  for (const a of attempts) {
    const list = grouped.get(a.taskId);
    if (list) list.push(a);
    else grouped.set(a.taskId, [a]);
  }
  for (const list of grouped.values()) if (list.length > 1) list.sort((a, b) => a.number - b.number);
  return grouped;
}

function runResult(tasks: EngineTask[]): RunResult {
  if (tasks.some((t) => t.status === "failed" && !t.ignoreFailure)) return "failed";
  if (tasks.some((t) => t.status === "stopped" || t.status === "cancelled")) return "stopped";
  return "success";
}
