import { eq } from "drizzle-orm";
import { newId } from "../../shared/ids.ts";
import type { Write } from "../db/batch.ts";
import type { Db } from "../db/open.ts";
import { insertRows, updateWhere } from "../db/plain-statements.ts";
import { attempts, events, runs, steps, tasks } from "../db/schema.ts";
import type { advance } from "../engine/advance.ts";
import { type EngineEvent, FINAL_RUN_PHASES } from "../engine/types.ts";
import type { ActiveRun, AttemptRow, RunRow, TaskRow } from "./active-run.ts";
import { commandDigest } from "./digest.ts";

/** The engine's decisions `out` on `active` as rows: what changes in the run's rows and what is added to them. */
export interface Decisions {
  tasks: { row: TaskRow; patch: Pick<TaskRow, "status" | "startedAt" | "endedAt"> }[];
  created: { attempt: AttemptRow; steps: StepInsert[] }[];
  /** attempts whose cancel is asked for, stored so the node holding the attempt's agent tells it */
  cancels: AttemptRow[];
  run: Pick<RunRow, "phase" | "result" | "startedAt" | "endedAt"> | null;
  events: EventInsert[];
  now: number;
}

type StepInsert = typeof steps.$inferInsert;
type EventInsert = typeof events.$inferInsert;

/**
 * `at` may carry a fraction of a millisecond (preciseNow): an attempt's readyAt keeps it, as the start of the span to its
 * first log byte's time; the other stamps are whole milliseconds.
 */
export function decide(active: ActiveRun, out: ReturnType<typeof advance>, at: number): Decisions {
  const runId = active.run.id;
  const now = Math.floor(at);
  const decided: Decisions = { tasks: [], created: [], cancels: [], run: null, events: [], now };
  for (const t of out.tasks) {
    const row = active.tasks.get(t.id);
    if (!row || row.status === t.status) continue;
    const started = t.status === "running" && !row.startedAt ? now : row.startedAt;
    const ended = t.status !== "running" && t.status !== "waiting_approval" ? now : null;
    decided.tasks.push({ row, patch: { status: t.status, startedAt: started, endedAt: ended } });
  }
  for (const action of out.actions) {
    if (action.type === "create_attempt") {
      const task = active.tasks.get(action.taskId)!;
      const attempt: AttemptRow = {
        id: newId(),
        runId,
        taskId: task.id,
        taskName: task.name,
        number: action.number,
        agentId: null,
        state: "queued",
        exitCode: null,
        error: null,
        digest: commandDigest(task.spec, task.spec.arch ?? ""),
        readyAt: at,
        assignedAt: null,
        startedAt: null,
        keepaliveAt: null,
        endedAt: null,
        cpuSeconds: null,
        peakRssBytes: null,
        keptFrom: null,
        cancelRequestedAt: null,
      };
      const stepRows = task.spec.steps.map((s, index) => ({ attemptId: attempt.id, index, name: s.name, kind: s.kind, status: "pending" }));
      decided.created.push({ attempt, steps: stepRows });
    } else {
      const found = active.attempts.get(action.attemptId);
      if (found) decided.cancels.push(found);
    }
  }
  if (out.run.phase !== active.run.phase || out.run.result !== active.run.result) {
    decided.run = {
      phase: out.run.phase,
      result: out.run.result,
      startedAt: active.run.startedAt ?? now,
      endedAt: FINAL_RUN_PHASES.has(out.run.phase) ? now : null,
    };
  }
  decided.events = out.events.map((e) => eventRow(runId, e, now));
  return decided;
}

/** What storing one advance of a run's engine takes, and what memory does once it has committed. */
export interface DecisionWrites {
  writes: Write[];
  /** memory follows the database: these apply the changes once the batch has committed, never before */
  applied: (() => void)[];
  phaseChanged: boolean;
}

/** The writes that store the engine's decisions on `active` (`decide`), after `leading` (the run's fence, its group guard). */
export function decisionWrites(db: Db, active: ActiveRun, decided: Decisions, leading: Write[]): DecisionWrites {
  // the writes made for every task (its status, its attempts and steps, the events) are plain statements
  const writes: Write[] = [...leading];
  for (const { row, patch } of decided.tasks) writes.push(updateWhere(tasks, patch, { id: row.id }));
  for (const { attempt, steps: stepRows } of decided.created) writes.push(...insertRows(attempts, [attempt]), ...insertRows(steps, stepRows));
  for (const found of decided.cancels) writes.push(db.update(attempts).set({ cancelRequestedAt: decided.now }).where(eq(attempts.id, found.id)));
  if (decided.run) writes.push(db.update(runs).set(decided.run).where(eq(runs.id, active.run.id)));
  writes.push(...insertRows(events, decided.events));
  return {
    writes,
    applied: [() => applyDecisions(active, decided)],
    phaseChanged: decided.run !== null,
  };
}

/** Memory takes the decisions: once they have committed, or for a run not stored yet, as its rows are written. */
export function applyDecisions(active: ActiveRun, decided: Decisions): void {
  for (const { row, patch } of decided.tasks) Object.assign(row, patch);
  for (const found of decided.cancels) found.cancelRequestedAt = decided.now;
  if (decided.run) Object.assign(active.run, decided.run);
}

function eventRow(runId: string, e: EngineEvent, at: number) {
  const { kind, ...data } = e;
  return { runId, kind, data, at };
}
