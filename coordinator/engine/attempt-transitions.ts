import type { AttemptState } from "./types.ts";

/**
 * Every way an attempt's state may change, in one table: which states each event leaves from and
 * which it may lead to. The shells (dispatcher, attempt reports, fleet) name the event; a change the
 * table does not allow, or a stale one (the attempt moved on meanwhile), changes nothing.
 */
export const ATTEMPT_TRANSITIONS = {
  /** the dispatcher gives a queued attempt to an agent */
  assign: { from: ["queued"], to: ["assigned"] },
  /** not accepted in time, or refused by a draining agent: back in the queue */
  requeue: { from: ["assigned"], to: ["queued"] },
  /** the agent took it */
  accept: { from: ["assigned"], to: ["running"] },
  /** the agent's result */
  result: { from: ["assigned", "running"], to: ["success", "failed", "stopped", "error"] },
  /** its agent's lease lapsed, or the agent came back without it */
  lose: { from: ["assigned", "running"], to: ["lost"] },
  /** the coordinator cannot go on with it (a report it could not apply, a full disk) */
  fail: { from: ["assigned", "running"], to: ["error", "failed"] },
  /** cancelled before any agent had it */
  cancel_queued: { from: ["queued"], to: ["stopped"] },
  /** no agent took it within the queue timeout */
  queue_timeout: { from: ["queued"], to: ["failed"] },
  /** no agent could run it as it stands (its project, whose commit it checks out, was deleted) */
  unrunnable: { from: ["queued"], to: ["failed"] },
} as const satisfies Record<string, { from: readonly AttemptState[]; to: readonly AttemptState[] }>;

export type AttemptEvent = keyof typeof ATTEMPT_TRANSITIONS;
export type AttemptTarget<E extends AttemptEvent> = (typeof ATTEMPT_TRANSITIONS)[E]["to"][number];

/** Whether `event` may move an attempt from `state` to `to`. */
export function allowed(event: AttemptEvent, state: AttemptState, to: AttemptState): boolean {
  const { from, to: targets } = ATTEMPT_TRANSITIONS[event];
  return (from as readonly AttemptState[]).includes(state) && (targets as readonly AttemptState[]).includes(to);
}
