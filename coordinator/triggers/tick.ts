import { Cron } from "croner";

/** UTC, as in hosted CI: a schedule must not move when the server's time zone or DST changes. */
export const cronOf = (expression: string) => new Cron(expression, { paused: true, mode: "5-or-6-parts", timezone: "UTC" });

export interface Timed {
  cron: string;
  createdAt: number;
}

/**
 * The tick a schedule should run at `now`: its latest occurrence at or before `now`, when that is
 * newer than the last tick run (or, before the first, the schedule's creation). Only the latest
 * occurrence counts, so after a long outage one missed tick is caught up, never a burst.
 */
export function dueTick(schedule: Timed, lastTick: number | null, now: number): number | null {
  // previousRuns includes occurrences earlier in the reference's own second, so +1 makes `now` itself due
  const [latest] = cronOf(schedule.cron).previousRuns(1, new Date(now + 1));
  if (!latest) return null;
  const tick = latest.getTime();
  return tick > (lastTick ?? schedule.createdAt) ? tick : null;
}
