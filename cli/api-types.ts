/** The parts of the coordinator's run JSON the CLI reads. */
export interface RunSummary {
  id: string;
  group: string;
  user: string;
  phase: string;
  result: string;
  error: string | null;
  createdAt: number;
  startedAt: number | null;
  endedAt: number | null;
}

export interface StepView {
  index: number;
  name: string;
  status: string;
  exitCode: number | null;
}

export interface AttemptView {
  number: number;
  state: string;
  exitCode: number | null;
  error: string | null;
  steps: StepView[];
}

export interface TaskView {
  name: string;
  status: string;
  statusMessage: string | null;
  startedAt: number | null;
  endedAt: number | null;
  attempts: AttemptView[];
}

export interface RunView extends RunSummary {
  tasks: TaskView[];
}

export const ENDED_PHASES: ReadonlySet<string> = new Set(["finished", "cancelled", "setuperror"]);
export const ENDED_TASK_STATUSES: ReadonlySet<string> = new Set(["skipped", "cancelled", "stopped", "success", "failed"]);
/** An attempt has (or had) logs once an agent accepted it. */
export const STARTED_ATTEMPT_STATES: ReadonlySet<string> = new Set(["running", "success", "failed", "stopped", "error", "lost"]);
