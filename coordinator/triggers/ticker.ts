import { and, eq, isNull, lt, or } from "drizzle-orm";
import type { Db } from "../db/open.ts";
import { schedules } from "../db/schema.ts";
import { sourceOf } from "../../shared/source.ts";
import { createRun } from "../runs/create-run.ts";
import type { Scheduler } from "../runs/scheduler.ts";
import type { ProjectPoller } from "./poll.ts";
import { dueTick, nextTick } from "./tick.ts";

type ScheduleRow = typeof schedules.$inferSelect;

/**
 * The longest a pass waits for the next: schedules and polled projects made or changed (on any node) are seen within
 * this, and a node that takes the cron duty starts within it. Otherwise a pass comes when the next tick or poll is due.
 */
const LOOK_AGAIN_MS = 2000;

/** Reads the enabled schedules and starts a run for each due tick; starts the project polls that are due. */
export class ScheduleTicker {
  private timer: ReturnType<typeof setTimeout> | undefined;
  private pass: Promise<void> | undefined;
  private stopped = false;
  /** when this node's previous schedule pass looked, while it held the cron duty: ticks since then are all run */
  private lookedAt: number | null = null;

  constructor(
    private readonly db: Db,
    private readonly scheduler: Scheduler,
    private readonly poller?: ProjectPoller,
    /** whether this node holds the duty now (coordinator/cluster): with several nodes, one ticks and one polls */
    private readonly holds: (duty: "cron" | "polling") => boolean = () => true,
    private readonly lookAgainMs = LOOK_AGAIN_MS,
  ) {}

  start(): void {
    this.after(0);
  }

  private after(ms: number): void {
    this.timer = setTimeout(() => {
      this.pass = this.runDue(Date.now()).then(
        (next) => {
          this.pass = undefined;
          if (!this.stopped) this.after(Math.max(0, next - Date.now()));
        },
      );
    }, ms);
  }

  /** Waits for a pass under way, so the database is not closed beneath it. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.pass;
    await this.poller?.stop();
  }

  /** Runs what is due; returns when the next pass should come. */
  private async runDue(now: number): Promise<number> {
    let next = now + this.lookAgainMs;
    try {
      if (this.holds("cron")) {
        const rows = await this.db.select().from(schedules).where(eq(schedules.enabled, true));
        const catchUpFrom = this.lookedAt ?? now;
        for (const row of rows) next = Math.min(next, await this.fire(row, now, catchUpFrom));
        this.lookedAt = now;
      } else this.lookedAt = null;
      if (this.holds("polling") && this.poller) next = Math.min(next, await this.poller.tick(now));
    } catch (e) {
      console.error("[triggers] schedule pass failed:", e);
    }
    return next;
  }

  /** Runs each due tick of the schedule, oldest first (a late pass has several); returns when its next tick comes. */
  private async fire(schedule: ScheduleRow, now: number, catchUpFrom: number): Promise<number> {
    let last = schedule.lastTick;
    for (let tick = dueTick(schedule, last, now, catchUpFrom); tick !== null; tick = dueTick(schedule, last, now, catchUpFrom)) {
      if (!(await this.fireTick(schedule, tick))) break;
      last = tick;
    }
    return nextTick(schedule, now);
  }

  /** Claims one tick and starts its run; false when another pass or node claimed it first. */
  private async fireTick(schedule: ScheduleRow, tick: number): Promise<boolean> {
    // Claiming the tick in the database first means a second coordinator (or a slow pass) cannot run it again;
    // a crash between claim and run loses that tick rather than doubling it.
    const claimed = await this.db
      .update(schedules)
      .set({ lastTick: tick })
      .where(and(eq(schedules.id, schedule.id), or(isNull(schedules.lastTick), lt(schedules.lastTick, tick))))
      .returning({ id: schedules.id });
    if (claimed.length === 0) return false;
    await createRun(this.db, this.scheduler, {
      pipeline: schedule.pipeline,
      group: schedule.group,
      user: schedule.user,
      variables: { ...schedule.variables, DROVER_SCHEDULE_TICK: new Date(tick).toISOString() },
      source: sourceOf("schedule", `schedule:${schedule.id}`),
    }).catch((e) => console.error(`[triggers] schedule ${schedule.id} could not start its run:`, e));
    return true;
  }
}
