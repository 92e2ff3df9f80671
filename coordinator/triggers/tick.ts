import { Cron } from "croner";

/** UTC, as in hosted CI: a schedule must not move when the server's time zone or DST changes. */
export const cronOf = (expression: string) => new Cron(expression, { paused: true, mode: "5-or-6-parts", timezone: "UTC" });

export interface Timed {
  cron: string;
  createdAt: number;
}

/**
 * The tick a schedule should run at `now`, when one newer than the last tick run (or, before the first, the
 * schedule's creation) has come. Occurrences at or after `catchUpFrom` (when this node's previous pass looked)
 * are run one by one, oldest first, so a pass that came late under load misses none; older ones are not: after
 * an outage, or when the duty moves to another node, only the latest missed tick is caught up, never a burst.
 */
export function dueTick(schedule: Timed, lastTick: number | null, now: number, catchUpFrom = now): number | null {
  const cron = cronOf(schedule.cron);
  // previousRuns includes occurrences earlier in the reference's own second, so +1 makes `now` itself due
  const [latest] = cron.previousRuns(1, new Date(now + 1));
  const from = lastTick ?? schedule.createdAt;
  if (!latest || latest.getTime() <= from) return null;
  const oldest = cron.nextRun(new Date(from))?.getTime();
  return oldest !== undefined && oldest > from && oldest >= catchUpFrom ? oldest : latest.getTime();
}

/** When the schedule's next tick after `now` comes (Infinity when it has none). */
export function nextTick(schedule: Timed, now: number): number {
  return cronOf(schedule.cron).nextRun(new Date(now))?.getTime() ?? Number.POSITIVE_INFINITY;
}
