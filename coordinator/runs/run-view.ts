import type { runs } from "../db/schema.ts";
import type { StoredRunWithSteps } from "./load-run.ts";

export type RunSummary = Omit<typeof runs.$inferSelect, "pipeline" | "variables"> & { variables: string[] };

/** Variables are listed by name only: their values may be secrets. */
export function summarize(run: Omit<typeof runs.$inferSelect, "pipeline"> & { pipeline?: string }): RunSummary {
  const { pipeline: _pipeline, variables, ...rest } = run;
  return { ...rest, variables: Object.keys(variables) };
}

export type RunView = ReturnType<typeof runView>;

/** Code-unit order, as SQLite's default BINARY collation sorts; localeCompare would reorder some names. */
const binary = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

/**
 * One run with its tasks (by level, then name), each task's attempts and each
 * attempt's steps, in order; task specs are left out.
 */
export function runView({ run, tasks, attempts, steps }: StoredRunWithSteps) {
  const stepsOf = Map.groupBy(
    steps.toSorted((a, b) => a.index - b.index),
    (s) => s.attemptId,
  );
  const attemptsOf = Map.groupBy(
    attempts.toSorted((a, b) => a.number - b.number),
    (a) => a.taskId,
  );
  return {
    ...summarize(run),
    pipeline: run.pipeline,
    tasks: tasks
      .toSorted((a, b) => a.level - b.level || binary(a.name, b.name))
      .map(({ spec: _spec, ...t }) => ({
        ...t,
        attempts: (attemptsOf.get(t.id) ?? []).map((a) => ({ ...a, steps: stepsOf.get(a.id) ?? [] })),
      })),
  };
}
