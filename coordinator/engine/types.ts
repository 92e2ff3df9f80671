import type { AttemptState, RunPhase, RunResult, TaskStatus } from "../../shared/states.ts";

export type { AttemptState, RunPhase, RunResult, TaskStatus } from "../../shared/states.ts";
export { ACTIVE_ATTEMPT_STATES, FINAL_RUN_PHASES, FINAL_TASK_STATUSES } from "../../shared/states.ts";
export type Condition = "on_success" | "on_failure" | "on_skipped";

export interface EngineRun {
  id: string;
  phase: RunPhase;
  result: RunResult;
  cancelRequested: boolean;
  /** why the run cannot be set up (its workspace archive is gone): it stops as a cancel would and ends in `setuperror` */
  setupError: string | null;
}

export interface EngineTask {
  id: string;
  name: string;
  level: number;
  status: TaskStatus;
  depends: { task: string; conditions: Condition[] }[];
  retries: number;
  ignoreFailure: boolean;
  minApprovers: number;
  approvers: string[];
}

export interface EngineAttempt {
  id: string;
  taskId: string;
  number: number;
  state: AttemptState;
  cancelRequested: boolean;
  /** failed in the queue: no agent took it within the queue timeout */
  timedOutInQueue: boolean;
}

export interface EngineInput {
  run: EngineRun;
  tasks: EngineTask[];
  attempts: EngineAttempt[];
  now: number;
}

export type EngineAction =
  | { type: "create_attempt"; taskId: string; number: number }
  | { type: "cancel_attempt"; attemptId: string };

export type EngineEvent =
  | { kind: "run"; phase: RunPhase; result: RunResult; error?: string }
  | { kind: "task"; task: string; status: TaskStatus; message?: string };

export interface EngineOutput {
  run: EngineRun;
  tasks: EngineTask[];
  actions: EngineAction[];
  events: EngineEvent[];
}
