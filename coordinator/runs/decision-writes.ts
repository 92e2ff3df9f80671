import type { BatchItem } from "drizzle-orm/batch";
import { eq } from "drizzle-orm";
import { newId } from "../../shared/ids.ts";
import type { Write } from "../db/batch.ts";
import type { Db } from "../db/open.ts";
import { insertRows, updateWhere } from "../db/plain-statements.ts";
import { attempts, events, runs, steps, tasks } from "../db/schema.ts";
import type { advance } from "../engine/advance.ts";
import { type EngineEvent, FINAL_RUN_PHASES } from "../engine/types.ts";
import type { ActiveRun, AttemptRow } from "./active-run.ts";
import { commandDigest } from "./digest.ts";

/** What storing one advance of a run's engine takes, and what memory does once it has committed. */
export interface DecisionWrites {
  writes: Write[];
  /** memory follows the database: these apply the changes once the batch has committed, never before */
  applied: (() => void)[];
  created: AttemptRow[];
  phaseChanged: boolean;
}

/** The writes that store the engine's decisions `out` on `active`, after `leading` (the run's fence, its group guard). */
export function decisionWrites(
  db: Db,
  active: ActiveRun,
  out: ReturnType<typeof advance>,
  now: number,
  leading: BatchItem<"sqlite">[],
): DecisionWrites {
  const runId = active.run.id;
  // the writes made for every task (its status, its attempts and steps, the events) are plain statements
  const writes: Write[] = [...leading];
  const applied: (() => void)[] = [];
  const created: AttemptRow[] = [];
  for (const t of out.tasks) {
    const row = active.tasks.get(t.id);
    if (!row || row.status === t.status) continue;
    const started = t.status === "running" && !row.startedAt ? now : row.startedAt;
    const ended = t.status !== "running" && t.status !== "waiting_approval" ? now : null;
    writes.push(updateWhere(tasks, { status: t.status, startedAt: started, endedAt: ended }, { id: t.id }));
    applied.push(() => Object.assign(row, { status: t.status, startedAt: started, endedAt: ended }));
  }
  for (const action of out.actions) {
    if (action.type === "create_attempt") {
      const task = active.tasks.get(action.taskId)!;
      const row: AttemptRow = {
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
        readyAt: now,
        assignedAt: null,
        startedAt: null,
        keepaliveAt: null,
        endedAt: null,
        cpuSeconds: null,
        peakRssBytes: null,
        keptFrom: null,
        cancelRequestedAt: null,
      };
      writes.push(...insertRows(attempts, [row]));
      const stepRows = task.spec.steps.map((s, index) => ({ attemptId: row.id, index, name: s.name, kind: s.kind, status: "pending" }));
      writes.push(...insertRows(steps, stepRows));
      created.push(row);
    } else {
      const found = active.attempts.get(action.attemptId);
      if (!found) continue;
      // stored, so the node holding the attempt's agent tells it, now or when it reconnects
      writes.push(db.update(attempts).set({ cancelRequestedAt: now }).where(eq(attempts.id, found.id)));
      applied.push(() => (found.cancelRequestedAt = now));
    }
  }
  const phaseChanged = out.run.phase !== active.run.phase || out.run.result !== active.run.result;
  if (phaseChanged) {
    const patch = {
      phase: out.run.phase,
      result: out.run.result,
      startedAt: active.run.startedAt ?? now,
      endedAt: FINAL_RUN_PHASES.has(out.run.phase) ? now : null,
    };
    writes.push(db.update(runs).set(patch).where(eq(runs.id, runId)));
    applied.push(() => Object.assign(active.run, patch));
  }
  writes.push(...insertRows(events, out.events.map((e) => eventRow(runId, e, now))));
  return { writes, applied, created, phaseChanged };
}

function eventRow(runId: string, e: EngineEvent, at: number) {
  const { kind, ...data } = e;
  return { runId, kind, data, at };
}
