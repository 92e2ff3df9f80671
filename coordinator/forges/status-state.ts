import type { RunPhase, RunResult } from "../engine/types.ts";

/** Where a run stands, as a forge's commit status shows it. */
export type StatusState = "pending" | "running" | "success" | "failure" | "error" | "canceled";

export interface RunStatus {
  sha: string;
  state: StatusState;
  /** the run's page */
  targetUrl: string;
  description: string;
  /** `drover/<project>`: one line per project on the commit */
  context: string;
}

interface RunLike {
  phase: string;
  result: string;
  number?: number | null;
  error?: string | null;
}

const FINAL: Record<RunResult, StatusState> = {
  success: "success",
  failed: "failure",
  stopped: "canceled",
  error: "error",
  unknown: "error",
};
const WORDS: Record<StatusState, string> = {
  pending: "queued",
  running: "running",
  success: "succeeded",
  failure: "failed",
  canceled: "was cancelled",
  error: "could not run",
};

/** The state and description a run's phase and result make; GitHub keeps descriptions to 140 characters. */
export function runStatusState(run: RunLike): { state: StatusState; description: string } {
  const phase = run.phase as RunPhase;
  const state = phase === "queued" ? "pending" : phase === "running" ? "running" : (FINAL[run.result as RunResult] ?? "error");
  const name = run.number ? `Run #${run.number}` : "The run";
  const why = state === "error" && run.error ? `: ${run.error}` : "";
  const description = `${name} ${WORDS[state]}${why}`;
  return { state, description: description.length > 140 ? `${description.slice(0, 139)}…` : description };
}
