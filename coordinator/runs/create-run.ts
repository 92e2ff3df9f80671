import { newId } from "../../shared/ids.ts";
import { parsePipeline } from "../../shared/pipeline/index.ts";
import { DroverError } from "../../shared/errors.ts";
import { runs, tasks } from "../db/schema.ts";
import type { Db } from "../db/open.ts";
import type { RunRow, TaskRow } from "./active-run.ts";
import type { Scheduler } from "./scheduler.ts";

export interface NewRun {
  pipeline: string;
  pipelineFile?: string;
  group: string;
  user: string;
  variables?: Record<string, string>;
  /** object key of the uploaded workspace archive, if any */
  workspace?: string | null;
}

/** Validates the pipeline before anything is stored: an invalid file never becomes a run. */
export async function createRun(db: Db, scheduler: Scheduler, input: NewRun): Promise<RunRow> {
  const file = input.pipelineFile ?? ".drover.yml";
  const parsed = parsePipeline(input.pipeline, file);
  if (!parsed.ok) throw new DroverError("invalid_pipeline", parsed.errors.join("\n"), { errors: parsed.errors });
  const now = Date.now();
  const run: RunRow = {
    id: newId(),
    group: input.group,
    user: input.user,
    pipeline: input.pipeline,
    pipelineFile: file,
    variables: input.variables ?? {},
    workspace: input.workspace ?? null,
    phase: "queued",
    result: "unknown",
    error: null,
    createdAt: now,
    startedAt: null,
    endedAt: null,
  };
  const taskRows: TaskRow[] = parsed.pipeline.tasks.map((spec) => ({
    id: newId(),
    runId: run.id,
    name: spec.name,
    level: spec.level,
    spec: { ...spec, env: { ...parsed.pipeline.env, ...spec.env } },
    status: "notstarted",
    statusMessage: null,
    annotations: {},
    startedAt: null,
    endedAt: null,
  }));
  return scheduler.serial.run(async () => {
    await db.transaction(async (tx) => {
      await tx.insert(runs).values(run);
      if (taskRows.length) await tx.insert(tasks).values(taskRows);
    });
    scheduler.track(run, taskRows, []);
    await scheduler.advanceRun(run.id);
    return run;
  });
}
