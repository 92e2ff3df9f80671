/**
 * The one vocabulary of run, task and attempt states: the engine, the database rows, the API's schemas,
 * the UI, the CLI and the tests all take them from here.
 */

export const RUN_PHASES = ["queued", "running", "finished", "cancelled", "setuperror"] as const;
export type RunPhase = (typeof RUN_PHASES)[number];

export const RUN_RESULTS = ["unknown", "success", "failed", "stopped", "error"] as const;
export type RunResult = (typeof RUN_RESULTS)[number];

export const TASK_STATUSES = [
  "notstarted",
  "waiting_approval",
  "skipped",
  "cancelled",
  "running",
  "stopped",
  "success",
  "failed",
] as const;
export type TaskStatus = (typeof TASK_STATUSES)[number];

export const ATTEMPT_STATES = ["queued", "assigned", "running", "success", "failed", "stopped", "error", "lost"] as const;
export type AttemptState = (typeof ATTEMPT_STATES)[number];

export const FINAL_RUN_PHASES: ReadonlySet<RunPhase> = new Set(["finished", "cancelled", "setuperror"]);
/** a run in one of these is not finished: some node drives its engine */
export const OPEN_RUN_PHASES: readonly RunPhase[] = ["queued", "running"];
export const FINAL_TASK_STATUSES: ReadonlySet<TaskStatus> = new Set(["skipped", "cancelled", "stopped", "success", "failed"]);
/** an attempt in one of these holds (or waits for) an agent's slot */
export const ACTIVE_ATTEMPT_STATES: ReadonlySet<AttemptState> = new Set(["queued", "assigned", "running"]);
/** an attempt in one of these is an agent's: it holds a slot there, and its reports are taken from that agent */
export const ON_AGENT_STATES: ReadonlySet<AttemptState> = new Set(["assigned", "running"]);
