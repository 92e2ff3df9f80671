import { asc, eq, inArray } from "drizzle-orm";
import type { Db } from "../db/open.ts";
import { attempts, runs, steps, tasks } from "../db/schema.ts";

export type RunSummary = Omit<typeof runs.$inferSelect, "pipeline" | "variables"> & { variables: string[] };

/** Variables are listed by name only: their values may be secrets. */
export function summarize(run: typeof runs.$inferSelect): RunSummary {
  const { pipeline: _pipeline, variables, ...rest } = run;
  return { ...rest, variables: Object.keys(variables) };
}

/** One run with its tasks, each task's attempts, and each attempt's steps. */
export async function runView(db: Db, id: string) {
  const [run] = await db.select().from(runs).where(eq(runs.id, id));
  if (!run) return undefined;
  const taskRows = await db.select().from(tasks).where(eq(tasks.runId, id)).orderBy(asc(tasks.level), asc(tasks.name));
  const attemptRows = await db.select().from(attempts).where(eq(attempts.runId, id)).orderBy(asc(attempts.number));
  const stepRows = attemptRows.length
    ? await db
        .select()
        .from(steps)
        .where(
          inArray(
            steps.attemptId,
            attemptRows.map((a) => a.id),
          ),
        )
        .orderBy(asc(steps.index))
    : [];
  return {
    ...summarize(run),
    pipeline: run.pipeline,
    tasks: taskRows.map(({ spec: _spec, ...t }) => ({
      ...t,
      attempts: attemptRows
        .filter((a) => a.taskId === t.id)
        .map((a) => ({ ...a, steps: stepRows.filter((s) => s.attemptId === a.id) })),
    })),
  };
}
