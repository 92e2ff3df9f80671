import { FINAL_TASK_STATUSES } from "../shared/states.ts";
import type { RunView, TaskView } from "./api-types.ts";
import { duration, paint, statusColour, table } from "./output.ts";

/** The web page of a run, as the coordinator serves it. */
export const runUrl = (base: string, run: string) => `${base}/runs/${encodeURIComponent(run)}`;

/** Why a task waits, in a line a person can act on; null when it is not waiting on anything worth saying. */
export function waitingNote(run: RunView, task: TaskView, base: string): string | null {
  if (task.status === "waiting_approval") {
    const approvers = (task.annotations.approvers as string[] | undefined) ?? [];
    const soFar = approvers.length ? ` (approved so far by ${approvers.join(", ")})` : "";
    return `${task.name} is waiting for approval${soFar} — \`drover approve ${run.id} ${task.name}\` or ${runUrl(base, run.id)}`;
  }
  // a task whose attempt waits in the queue is already "running"; the message says why it waits
  if (task.statusMessage && !FINAL_TASK_STATUSES.has(task.status)) return `${task.name} ${task.statusMessage}`;
  return null;
}

/** `==> test failed: exit code 1 (2.1s)`: a task's end, with why it did not succeed. */
export function statusLine(task: TaskView): string {
  const last = task.attempts.at(-1);
  const why = task.status === "success" ? null : (task.statusMessage ?? last?.error ?? (last?.exitCode ? `exit code ${last.exitCode}` : null));
  const text = `==> ${task.name} ${task.status}${why ? `: ${why}` : ""} (${duration(task.startedAt, task.endedAt)})`;
  return `${paint(text, statusColour(task.status))}\n`;
}

/** The table printed when a followed run ends: every task, its result, how long it took, its attempts. */
export function summaryTable(run: RunView): string {
  const rows = run.tasks.map((t) => [t.name, t.status, duration(t.startedAt, t.endedAt), String(t.attempts.length)]);
  return table(["TASK", "RESULT", "DURATION", "ATTEMPTS"], rows, (cell, row, col) =>
    col === 1 ? paint(cell, statusColour(run.tasks[row]!.status)) : cell,
  );
}
