export type RunPhase = "queued" | "running" | "finished" | "cancelled" | "setuperror";
export type RunResult = "unknown" | "success" | "failed" | "stopped" | "error";
export type TaskStatus =
  | "notstarted"
  | "waiting_approval"
  | "skipped"
  | "cancelled"
  | "running"
  | "stopped"
  | "success"
  | "failed";
export type AttemptState = "queued" | "assigned" | "running" | "success" | "failed" | "stopped" | "error" | "lost";
export type Condition = "on_success" | "on_failure" | "on_skipped";

export const FINAL_RUN_PHASES: ReadonlySet<RunPhase> = new Set(["finished", "cancelled", "setuperror"]);
export const FINAL_TASK_STATUSES: ReadonlySet<TaskStatus> = new Set([
  "skipped",
  "cancelled",
  "stopped",
  "success",
  "failed",
]);
export const ACTIVE_ATTEMPT_STATES: ReadonlySet<AttemptState> = new Set(["queued", "assigned", "running"]);

export interface EngineRun {
  id: string;
  phase: RunPhase;
  result: RunResult;
  cancelRequested: boolean;
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
  | { kind: "run"; phase: RunPhase; result: RunResult }
  | { kind: "task"; task: string; status: TaskStatus; message?: string };

export interface EngineOutput {
  run: EngineRun;
  tasks: EngineTask[];
  actions: EngineAction[];
  events: EngineEvent[];
}
