import { ACTIVE_ATTEMPT_STATES } from "../engine/types.ts";
import type { ActiveRun, AttemptRow } from "./active-run.ts";

/**
 * Per run, where the last look found an attempt still active: a live iterator over its attempts (which sees the ones
 * added later) and the attempt it stopped at. Attempts mostly end in the order they were made, so the looks over a
 * whole run walk its attempts about once, not once per attempt.
 */
const cursors = new WeakMap<ActiveRun, { rest: Iterator<AttemptRow>; at: AttemptRow | null }>();

/**
 * Whether an attempt of the run other than `attemptId` is still queued or on an agent. A final attempt stays final
 * (a retry is an attempt of its own), so the attempts a look went past are not looked at again.
 */
export function anotherActive(active: ActiveRun, attemptId: string): boolean {
  let cursor = cursors.get(active);
  if (!cursor) {
    cursor = { rest: active.attempts.values(), at: null };
    cursors.set(active, cursor);
  }
  const stillActive = (a: AttemptRow | null) => !!a && a.id !== attemptId && ACTIVE_ATTEMPT_STATES.has(a.state);
  if (stillActive(cursor.at)) return true;
  for (let next = cursor.rest.next(); !next.done; next = cursor.rest.next()) {
    if (stillActive(next.value)) {
      cursor.at = next.value;
      return true;
    }
  }
  // a finished iterator sees nothing added after: the next look (after a retry, say) starts over
  cursors.delete(active);
  return false;
}
