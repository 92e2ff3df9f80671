import { z } from "@hono/zod-openapi";
import { ATTEMPT_STATES, RUN_PHASES, RUN_RESULTS, TASK_STATUSES } from "../../../shared/states.ts";
import { STEP_KINDS } from "../../../shared/pipeline/index.ts";
import { runSourceSchema } from "../../../shared/source.ts";

/** Responses about runs; fields and nullability follow coordinator/db/schema.ts and run-view.ts. */

export const ms = z.number().int().openapi({ description: "epoch milliseconds" });
export const msOrNull = ms.nullable();
const textOrNull = z.string().nullable();

export const RunPhase = z.enum(RUN_PHASES).openapi("RunPhase");
export const RunResult = z.enum(RUN_RESULTS).openapi("RunResult");
export const TaskStatus = z.enum(TASK_STATUSES).openapi("TaskStatus");
export const AttemptStateSchema = z.enum(ATTEMPT_STATES).openapi("AttemptState");

// Rebuilt from its shape with this module's z: a schema made before @hono/zod-openapi loaded has no .openapi.
export const RunSource = z.object(runSourceSchema.shape).openapi("RunSource", {
  description: "what the run builds and why: event, commit, ref, branch, tag, pull request, message, author, trigger",
});

export const RunSummary = z
  .object({
    id: z.string(),
    group: z.string(),
    user: z.string(),
    pipelineFile: z.string(),
    variables: z.array(z.string()).openapi({ description: "names only: values may be secrets" }),
    workspace: textOrNull.openapi({ description: "object key of the uploaded workspace archive" }),
    cacheGroup: textOrNull,
    phase: RunPhase,
    result: RunResult,
    error: textOrNull,
    cancelRequestedAt: msOrNull.openapi({ description: "when a cancel was asked for; null if never" }),
    createdAt: ms,
    startedAt: msOrNull,
    endedAt: msOrNull,
    projectId: textOrNull,
    project: textOrNull.openapi({ description: "the project's name, for a repository run" }),
    number: z.number().int().nullable().openapi({ description: "1, 2, 3… within the project; shown as `project #N`" }),
    source: RunSource.nullable(),
    statusPosted: textOrNull.openapi({
      description: "the commit status state (`pending`, `running`, `success`, …) the project's forge last took for this run; null if none yet",
    }),
  })
  .openapi("RunSummary");

export const Step = z
  .object({
    attemptId: z.string(),
    index: z.number().int(),
    name: z.string(),
    kind: z.enum(STEP_KINDS),
    status: z.enum(["pending", "running", "success", "failed", "lost"]),
    exitCode: z.number().int().nullable(),
    error: textOrNull,
    startedAt: msOrNull,
    endedAt: msOrNull,
    firstByteAt: z.number().nullable(),
    logObject: textOrNull,
    logSize: z.number().int(),
    archiveObject: textOrNull.openapi({ description: "the workspace archive a save_to_workspace step stored" }),
  })
  .openapi("Step");

/** The attempts table's columns, shared by the run view and the history. */
export const attemptFields = {
  id: z.string(),
  runId: z.string(),
  taskId: z.string(),
  taskName: z.string(),
  number: z.number().int().min(1),
  agentId: textOrNull,
  state: AttemptStateSchema,
  exitCode: z.number().int().nullable(),
  error: textOrNull,
  digest: z.string().openapi({ description: "command digest" }),
  readyAt: z.number().openapi({ description: "epoch milliseconds with a fraction, as a step's firstByteAt (the span between them is a few)" }),
  assignedAt: msOrNull,
  startedAt: msOrNull,
  keepaliveAt: msOrNull,
  endedAt: msOrNull,
  cpuSeconds: z.number().nullable(),
  peakRssBytes: z.number().int().nullable(),
  keptFrom: textOrNull.openapi({ description: "on an attempt a restart from failed kept: the attempt it copies" }),
  cancelRequestedAt: msOrNull.openapi({ description: "when its run's cancel reached this attempt (its agent is told to stop); null if never" }),
};

export const Attempt = z.object({ ...attemptFields, steps: z.array(Step) }).openapi("Attempt");

export const Task = z
  .object({
    id: z.string(),
    runId: z.string(),
    name: z.string(),
    level: z.number().int(),
    status: TaskStatus,
    statusMessage: textOrNull,
    annotations: z.record(z.string(), z.unknown()).openapi({ description: "e.g. approvers" }),
    startedAt: msOrNull,
    endedAt: msOrNull,
    attempts: z.array(Attempt),
  })
  .openapi("Task");

// Spread rather than .extend: an extended named schema becomes allOf, which a strict check cannot close.
export const RunView = z.object({ ...RunSummary.shape, pipeline: z.string(), tasks: z.array(Task) }).openapi("RunView");

export const RunList = z.object({ runs: z.array(RunSummary) }).openapi("RunList");

export const RunDeleted = z.object({
  id: z.string(),
  deleted: z.literal(true),
  objectsDeleted: z.number().int(),
  objectsKept: z.number().int().openapi({ description: "objects other runs still own" }),
});

export const Artifact = z
  .object({ task: z.string(), path: z.string(), size: z.number().int(), sha256: z.string(), url: z.string() })
  .openapi("Artifact");

/** The JSON in each server-sent event's data: what changed is in the kind's own fields. */
export const RunEvent = z
  .looseObject({
    seq: z.number().int(),
    run: z.string(),
    kind: z.string().openapi({
      description:
        "`run` and `task` (state changes), `task_message`, `approval`, `cancel`, `rerun`, `restarted_from`, and " +
        "`forge_status`: a commit status the forge did not take (`state`, `context`, `error`), or took after refusing an earlier one (`error` null)",
    }),
    at: z.number(),
  })
  .openapi("RunEvent");

export const TestCase = z
  .object({
    id: z.number().int(),
    runId: z.string(),
    task: z.string(),
    attemptId: z.string(),
    attempt: z.number().int(),
    step: z.number().int().openapi({ description: "the test_results step's index" }),
    file: z.string().openapi({ description: "the report, relative to the work dir" }),
    suite: z.string(),
    name: z.string(),
    status: z.enum(["passed", "failed", "error", "skipped"]),
    durationMs: z.number().nullable(),
    message: textOrNull.openapi({ description: "the one-line reason of a failure, error or skip" }),
    details: textOrNull.openapi({ description: "a stack trace or diagnostic, clipped at 8,000 characters" }),
  })
  .openapi("TestCase");

export const RunTests = z
  .object({
    summary: z.object({
      total: z.number().int(),
      passed: z.number().int(),
      failed: z.number().int(),
      error: z.number().int(),
      skipped: z.number().int(),
    }),
    cases: z.array(TestCase).openapi({ description: "failed, then errored, skipped and passed" }),
  })
  .openapi("RunTests");
