import { eq, inArray } from "drizzle-orm";
import type { Db } from "../db/open.ts";
import { attempts, runs, steps, tasks } from "../db/schema.ts";
import { OPEN_RUN_PHASES } from "../../shared/states.ts";
import type { AttemptRow, RunRow, StepRow, TaskRow } from "./active-run.ts";

export interface StoredRun {
  run: RunRow;
  tasks: TaskRow[];
  attempts: AttemptRow[];
}

export interface StoredRunWithSteps extends StoredRun {
  steps: StepRow[];
}

export async function loadRun(db: Db, id: string): Promise<StoredRun | undefined> {
  const [run] = (await db.select().from(runs).where(eq(runs.id, id))) as RunRow[];
  if (!run) return undefined;
  const taskRows = (await db.select().from(tasks).where(eq(tasks.runId, id))) as TaskRow[];
  const attemptRows = (await db.select().from(attempts).where(eq(attempts.runId, id))) as AttemptRow[];
  return { run, tasks: taskRows, attempts: attemptRows };
}

/** One run with the steps of all its attempts, or undefined when there is no such run. */
export async function loadRunWithSteps(db: Db, id: string): Promise<StoredRunWithSteps | undefined> {
  const stored = await loadRun(db, id);
  if (!stored) return undefined;
  // a subquery rather than a list of attempt ids: a run with very many attempts would pass SQLite's bound-parameter limit
  const ofRun = db.select({ id: attempts.id }).from(attempts).where(eq(attempts.runId, id));
  const stepRows = stored.attempts.length ? await db.select().from(steps).where(inArray(steps.attemptId, ofRun)) : [];
  return { ...stored, steps: stepRows };
}

/** Every queued or running run with its tasks and attempts, in three queries however many runs there are. */
export async function loadOpenRuns(db: Db): Promise<StoredRun[]> {
  const open = inArray(runs.phase, [...OPEN_RUN_PHASES]);
  const byId = new Map<string, StoredRun>();
  for (const run of (await db.select().from(runs).where(open)) as RunRow[]) byId.set(run.id, { run, tasks: [], attempts: [] });
  if (byId.size === 0) return [];
  // a subquery rather than a list of run ids: thousands of open runs would pass SQLite's bound-parameter limit
  const openIds = db.select({ id: runs.id }).from(runs).where(open);
  const taskRows = (await db.select().from(tasks).where(inArray(tasks.runId, openIds))) as TaskRow[];
  const attemptRows = (await db.select().from(attempts).where(inArray(attempts.runId, openIds))) as AttemptRow[];
  for (const t of taskRows) byId.get(t.runId)?.tasks.push(t);
  for (const a of attemptRows) byId.get(a.runId)?.attempts.push(a);
  return [...byId.values()];
}

export async function loadSteps(db: Db, attemptId: string): Promise<StepRow[]> {
  return db.select().from(steps).where(eq(steps.attemptId, attemptId));
}
