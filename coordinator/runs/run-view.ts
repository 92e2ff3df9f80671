import type { runs } from "../db/schema.ts";
import type { StoredRunWithSteps } from "./load-run.ts";

/** The run's lease: which node drives its engine, the nodes' own business (docs/cluster.md), not the API's. */
type Lease = "ownerNode" | "ownerEpoch" | "ownerExpiresAt";

export type RunSummary = Omit<typeof runs.$inferSelect, "pipeline" | "variables" | Lease> & { variables: string[] };

/** Variables are listed by name only: their values may be secrets. */
export function summarize(
  run: Omit<typeof runs.$inferSelect, "pipeline" | Lease> & { pipeline?: string } & Partial<Pick<typeof runs.$inferSelect, Lease>>,
): RunSummary {
  const { pipeline: _pipeline, variables, ownerNode: _node, ownerEpoch: _epoch, ownerExpiresAt: _expires, ...rest } = run;
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
