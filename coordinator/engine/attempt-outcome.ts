import { ACTIVE_ATTEMPT_STATES, type EngineAttempt, type EngineTask } from "./types.ts";

/**
 * A queue timeout does not spend the task's retries: the task fails at once, since no agent could take
 * it, and another attempt would only wait as long again for the same missing agent.
 *
 * Lost attempts and infrastructure errors (storage down, workspace unreadable) are
 * not the task's fault: they are retried on their own budget, not the task's `retries`.
 */
export const LOST_RETRIES = 2;

export function attemptOutcome(
  task: EngineTask,
  history: EngineAttempt[],
): "active" | "retry" | "success" | "failed" | "stopped" {
  const latest = history.at(-1);
  if (!latest) return "retry";
  if (ACTIVE_ATTEMPT_STATES.has(latest.state)) return "active";
  if (latest.timedOutInQueue) return "failed";
  switch (latest.state) {
    case "success":
      return "success";
    case "stopped":
      return "stopped";
    case "lost":
    case "error":
      return history.filter((a) => a.state === "lost" || a.state === "error").length <= LOST_RETRIES ? "retry" : "failed";
    default:
      return history.filter((a) => a.state === "failed").length <= task.retries
        ? "retry"
        : "failed";
  }
}
