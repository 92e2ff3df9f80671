import type { BatchItem } from "drizzle-orm/batch";
import { and, eq, inArray } from "drizzle-orm";
import { DroverError, notFound } from "../../shared/errors.ts";
import { chunkedInserts, writeAll } from "../db/batch.ts";
import type { Db } from "../db/open.ts";
import { artifacts, runs, tasks } from "../db/schema.ts";
import { approve, type Decision, rerun, restart } from "../engine/commands.ts";
import { type ObjectRegistry, runOwner } from "../objects/registry.ts";
import { stampsObjectOf } from "../logs/live-log.ts";
import { commandTask, type RunRow } from "./active-run.ts";
import { isUnchangedSkip } from "../projects/filter.ts";
import { createRun, type KeptResults } from "./create-run.ts";
import { loadRun, loadSteps } from "./load-run.ts";
import type { Scheduler } from "./scheduler.ts";

/** The engine's answer, or its refusal as the error the API turns into a status. */
function decided<T>(decision: Decision<T>): T {
  if (decision.ok) return decision.value;
  throw new DroverError(decision.refusal, decision.message);
}

/** Adds the caller to a waiting task's approvers; the engine starts the task once there are enough. */
export function approveTask(db: Db, scheduler: Scheduler, runId: string, taskName: string, user: string): Promise<string[]> {
  return scheduler.serial.run(async () => {
    const active = await scheduler.unfinished(runId);
    if (!active) throw new DroverError("conflict", `run ${runId} is not running`);
    const task = [...active.tasks.values()].find((t) => t.name === taskName);
    const approvers = decided(approve(task && commandTask(task), taskName, user));
    const annotations = { ...task!.annotations, approvers };
    await db.update(tasks).set({ annotations }).where(eq(tasks.id, task!.id));
    task!.annotations = annotations;
    await scheduler.appendEvent(runId, "approval", { task: taskName, user });
    await scheduler.advanceRun(runId);
    return approvers;
  });
}

export function cancelRun(scheduler: Scheduler, runId: string): Promise<void> {
  return scheduler.serial.run(async () => {
    if (!(await scheduler.requestCancel(runId))) throw new DroverError("conflict", `run ${runId} is not running`);
  });
}

/**
 * A new run of the same pipeline, group, variables and workspace. From "failed",
 * tasks that succeeded keep their results, logs and archives (the same objects)
 * and only the others run again. The original run is left as it was. When the
 * store lost the workspace or a kept archive, the new run ends in `setuperror`.
 */
export async function restartRun(
  db: Db,
  scheduler: Scheduler,
  registry: ObjectRegistry,
  runId: string,
  from: "scratch" | "failed",
  user: string,
): Promise<RunRow> {
  const stored = await loadRun(db, runId);
  if (!stored) throw notFound(`run ${runId}`);
  const keep = new Set(decided(restart(stored.run, stored.tasks.map(commandTask), from)));
  const kept: KeptResults = new Map();
  for (const task of stored.tasks.filter((t) => keep.has(t.name))) {
    const attempt = stored.attempts.filter((a) => a.taskId === task.id && a.state === "success").at(-1);
    if (attempt) kept.set(task.name, { attempt, steps: await loadSteps(db, attempt.id) });
  }
  const { run } = stored;
  // what the new run's tasks set up from: the uploaded workspace, and the archives the kept tasks saved
  const needed = [run.workspace, ...[...kept.values()].flatMap((k) => k.steps.map((s) => s.archiveObject))];
  const gone = await registry.missing(needed.filter((key): key is string => !!key));
  const created = await createRun(
    db,
    scheduler,
    {
      pipeline: run.pipeline,
      pipelineFile: run.pipelineFile,
      group: run.group,
      user,
      variables: run.variables,
      workspace: run.workspace,
      // the same commit of the same project, numbered anew; tasks `changed:` skipped stay skipped
      project: run.projectId && run.project ? { id: run.projectId, name: run.project } : null,
      source: run.source,
      skip: new Map(stored.tasks.filter((t) => t.status === "skipped" && isUnchangedSkip(t.statusMessage)).map((t) => [t.name, t.statusMessage!])),
      setupError: gone.length ? `cannot be set up: the object store no longer has ${gone.join(", ")} (of run ${runId})` : null,
    },
    kept,
  );
  await shareKeptObjects(db, registry, run, created.id, kept);
  await scheduler.serial.run(() => scheduler.appendEvent(created.id, "restarted_from", { run: runId, from }));
  return created;
}

/** Runs one task again in its run, keeping its earlier attempts; dependants that did not succeed get another chance too. */
export async function rerunTask(db: Db, scheduler: Scheduler, runId: string, taskName: string): Promise<void> {
  await scheduler.serial.run(async () => {
    const open = await scheduler.unfinished(runId);
    const stored = open ? undefined : await loadRun(db, runId);
    if (!open && !stored) throw notFound(`run ${runId}`);
    const runRow = stored ? stored.run : scheduler.active.get(runId)!.run;
    const taskRows = stored ? stored.tasks : [...scheduler.active.get(runId)!.tasks.values()];
    const decision = decided(rerun(runRow, taskRows.map(commandTask), taskName));
    const names = new Set(decision.tasks);
    // a finished run is driven again by the node reopening it
    if (stored && !(await scheduler.leases.take(runId))) throw new DroverError("conflict", `run ${runId} is being reopened by another node`);
    // a finished run is tracked again only once the rerun is sure to happen: a refused one leaves it finished
    const active = stored ? scheduler.track(stored.run, stored.tasks, stored.attempts) : scheduler.active.get(runId)!;
    const reset = taskRows.filter((t) => names.has(t.name));
    const writes: BatchItem<"sqlite">[] = [];
    for (const t of reset) writes.push(db.update(tasks).set({ status: "notstarted", endedAt: null }).where(eq(tasks.id, t.id)));
    // an earlier cancel is spent: the rerun is a new request to run
    const reopen = decision.run && { ...decision.run, endedAt: null, cancelRequestedAt: null };
    if (reopen) writes.push(db.update(runs).set(reopen).where(eq(runs.id, runId)));
    await writeAll(db, writes).catch((e) => {
      if (stored) scheduler.untrack(runId);
      throw e;
    });
    // memory follows the database once the batch has committed
    for (const t of reset) Object.assign(t, { status: "notstarted", endedAt: null });
    if (reopen) Object.assign(active.run, reopen);
    await scheduler.appendEvent(runId, "rerun", { task: taskName });
    await scheduler.advanceRun(runId);
  });
}

/** The new run owns the kept tasks' logs, archives and artifacts, and the upload, without copying a byte. */
async function shareKeptObjects(db: Db, registry: ObjectRegistry, original: RunRow, newRunId: string, kept: KeptResults) {
  const keys: string[] = original.workspace ? [original.workspace] : [];
  for (const { steps } of kept.values()) {
    for (const s of steps) keys.push(...[s.logObject, s.logObject && stampsObjectOf(s.logObject), s.archiveObject].filter((k): k is string => !!k));
  }
  const keptAttempts = [...kept.values()].map((k) => k.attempt.id);
  const carried = keptAttempts.length
    ? await db
        .select()
        .from(artifacts)
        .where(and(eq(artifacts.runId, original.id), inArray(artifacts.attemptId, keptAttempts)))
    : [];
  await writeAll(db, chunkedInserts(db, artifacts, carried.map((a) => ({ ...a, runId: newRunId }))));
  keys.push(...carried.map((a) => a.object));
  await registry.addOwner(keys, runOwner(newRunId));
}
