import { eq } from "drizzle-orm";
import type { Db } from "../db/open.ts";
import { attempts, runs, steps, tasks } from "../db/schema.ts";
import type { AttemptRow, RunRow, StepRow, TaskRow } from "./active-run.ts";

export interface StoredRun {
  run: RunRow;
  tasks: TaskRow[];
  attempts: AttemptRow[];
}

export async function loadRun(db: Db, id: string): Promise<StoredRun | undefined> {
  const [run] = (await db.select().from(runs).where(eq(runs.id, id))) as RunRow[];
  if (!run) return undefined;
  const taskRows = (await db.select().from(tasks).where(eq(tasks.runId, id))) as TaskRow[];
  const attemptRows = (await db.select().from(attempts).where(eq(attempts.runId, id))) as AttemptRow[];
  return { run, tasks: taskRows, attempts: attemptRows };
}

export async function loadSteps(db: Db, attemptId: string): Promise<StepRow[]> {
  return db.select().from(steps).where(eq(steps.attemptId, attemptId));
}
