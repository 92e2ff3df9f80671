import type { TaskSpec } from "../../shared/pipeline/index.ts";
import type { attempts, runs, steps, tasks } from "../db/schema.ts";
import type { AttemptState, EngineInput, RunPhase, RunResult, TaskStatus } from "../engine/types.ts";

export type RunRow = typeof runs.$inferSelect & { phase: RunPhase; result: RunResult };
export type TaskRow = typeof tasks.$inferSelect & { status: TaskStatus; spec: TaskSpec };
export type AttemptRow = typeof attempts.$inferSelect & { state: AttemptState };
export type StepRow = typeof steps.$inferSelect;

/** What the coordinator keeps in memory for a run that is not finished yet; the db is written through. */
export interface ActiveRun {
  run: RunRow;
  tasks: Map<string, TaskRow>;
  attempts: Map<string, AttemptRow>;
}

/** A task as the engine's commands (engine/commands.ts) see it. */
export const commandTask = (t: TaskRow) => ({
  name: t.name,
  status: t.status,
  approvers: (t.annotations.approvers as string[] | undefined) ?? [],
  depends: t.spec.depends,
});

export function engineInput(active: ActiveRun, now: number): EngineInput {
  return {
    run: {
      id: active.run.id,
      phase: active.run.phase,
      result: active.run.result,
      cancelRequested: active.run.cancelRequestedAt !== null,
      setupError: active.run.error,
    },
    tasks: [...active.tasks.values()].map((t) => ({
      id: t.id,
      name: t.name,
      level: t.level,
      status: t.status,
      depends: t.spec.depends,
      retries: t.spec.retries,
      ignoreFailure: t.spec.ignoreFailure,
      minApprovers: t.spec.approval?.minApprovers ?? 0,
      approvers: (t.annotations.approvers as string[] | undefined) ?? [],
    })),
    attempts: [...active.attempts.values()].map((a) => ({
      id: a.id,
      taskId: a.taskId,
      number: a.number,
      state: a.state,
      cancelRequested: a.cancelRequestedAt !== null,
      timedOutInQueue: a.state === "failed" && a.agentId === null,
    })),
    now,
  };
}
