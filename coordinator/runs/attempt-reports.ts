import { and, eq, isNull } from "drizzle-orm";
import { type AttemptResultReport, stampsStream } from "../../shared/protocol/index.ts";
import { executeTogether } from "../db/batch.ts";
import type { Db } from "../db/open.ts";
import { updateWhere } from "../db/plain-statements.ts";
import { steps } from "../db/schema.ts";
import type { LogKey } from "../logs/live-log.ts";
import type { LiveLogs } from "../logs/live-logs.ts";
import { dispatchLatency, logBytes } from "../metrics/registry.ts";
import { type ObjectRegistry, runOwner } from "../objects/registry.ts";
import type { AttemptRow } from "./active-run.ts";
import { anotherActive } from "./another-active.ts";
import { dependedOn } from "./depended-on.ts";
import type { Scheduler } from "./scheduler.ts";
import { SharedTurns } from "./serial.ts";

/**
 * Applies what agents report about their attempts. Every report is idempotent:
 * state moves are conditional, so a report resent after a reconnect changes nothing twice.
 */
export class AttemptReports {
  /** step log finalisations still in flight, per attempt and step; the result waits for them */
  private readonly pendingLogs = new Map<string, Map<number, Promise<void>>>();

  constructor(
    private readonly db: Db,
    private readonly scheduler: Scheduler,
    /** gives the attempt's slot on its agent back (the fleet's, wired in by the server) */
    private readonly freeSlot: (attempt: AttemptRow) => void,
    private readonly logs: LiveLogs,
    private readonly registry: ObjectRegistry,
  ) {
    this.turns = new SharedTurns(scheduler.serial);
  }

  /** accepts and results arriving while the serial queue is busy: one turn, one commit */
  private readonly turns: SharedTurns;

  accept(attemptId: string): Promise<void> {
    return this.turns.run({
      attempt: attemptId,
      move: () => {
        const now = Date.now();
        return this.scheduler.transition(attemptId, "accept", { state: "running", startedAt: now, keepaliveAt: now });
      },
      after: (row) => {
        if (row) this.scheduler.runEvents.publish(row.runId);
      },
    });
  }

  /** Marks a pending step running; shares the commit of the other writes asked for in this turn of the loop. */
  async stepStart(attemptId: string, step: number, at: number): Promise<void> {
    await executeTogether(this.db, [updateWhere(steps, { status: "running", startedAt: at }, { attemptId, index: step, status: "pending" })]);
    const found = this.scheduler.attempt(attemptId);
    if (found) this.scheduler.runEvents.publish(found.active.run.id);
  }

  /**
   * Resolves once the step's log is in the object store and its end recorded: only then may the agent let go of
   * its bytes (it sends them again to whichever node it reaches next). A step's end sent again shares the first's.
   */
  stepEnd(
    attemptId: string,
    step: number,
    report: { at: number; exitCode: number | null; error: string | null; logSize: number; stampsSize?: number },
  ): Promise<void> {
    const found = this.scheduler.attempt(attemptId);
    if (!found) return Promise.resolve();
    const list = this.pendingLogs.get(attemptId) ?? new Map<number, Promise<void>>();
    this.pendingLogs.set(attemptId, list);
    const pending = list.get(step);
    if (pending) return pending;
    const runId = found.active.run.id;
    const status = report.exitCode === 0 && !report.error ? "success" : "failed";
    const key = { run: runId, attempt: attemptId, step };
    // the timestamps are stored first, so that a step whose log is stored has them too
    const stamps = report.stampsSize ? this.storeStamps(key, report.stampsSize) : Promise.resolve();
    const done = Promise.all([this.logs.finalize(key, report.logSize), stamps]).then(async ([log]) => {
      const stepRow = updateWhere(
        steps,
        {
          status,
          exitCode: report.exitCode,
          error: report.error,
          endedAt: report.at,
          logObject: log.object,
          logSize: log.size,
          firstByteAt: log.firstByteAt,
        },
        { attemptId, index: step },
      );
      if (log.object) await this.registry.record(log.object, "log", log, runOwner(runId), [stepRow]);
      else await executeTogether(this.db, [stepRow]);
      logBytes.inc(log.size);
      const readyAt = this.scheduler.attempt(attemptId)?.attempt.readyAt;
      if (step === 0 && log.firstByteAt && readyAt) dispatchLatency.observe((log.firstByteAt - readyAt) / 1000);
      this.scheduler.runEvents.publish(runId);
    });
    list.set(step, done);
    return done;
  }

  /**
   * Stores a step's timestamps stream once it holds `size` bytes. They are an aid to reading the log: losing
   * them (a full disk, a failed upload) leaves the step's log and result as they are.
   */
  private async storeStamps(key: LogKey, size: number): Promise<void> {
    try {
      const stamps = await this.logs.finalize({ ...key, step: stampsStream(key.step) }, size);
      if (stamps.object) await this.registry.record(stamps.object, "log", stamps, runOwner(key.run));
    } catch {
      // the log page then shows no times for this step
    }
  }

  /**
   * The attempt ends, and its slot frees, once its own logs are stored. `applied` runs as the result is
   * stored and before the slot frees: the agent hears that its attempt ended before it can be given another.
   */
  async result(report: AttemptResultReport, applied: () => void = () => {}): Promise<void> {
    const stored = await Promise.allSettled(this.pendingLogs.get(report.attempt)?.values() ?? []);
    const lostLog = stored.find((s) => s.status === "rejected");
    this.pendingLogs.delete(report.attempt);
    await this.turns.run({
      attempt: report.attempt,
      move: () =>
        this.scheduler.transition(report.attempt, "result", {
          state: lostLog ? "error" : report.status,
          exitCode: report.exitCode,
          error: lostLog ? `storing the log failed: ${String(lostLog.reason)}` : report.error,
          endedAt: report.at,
          cpuSeconds: report.cpuSeconds,
          peakRssBytes: report.peakRssBytes,
        }),
      after: async (ended) => {
        applied();
        if (ended) await this.ended(ended);
      },
    });
  }

  /**
   * A lost attempt's output so far is kept: each step log that received bytes
   * is stored as it is and its step marked lost. Callers hold `serial`.
   */
  async keepPartialLogs(attempt: AttemptRow): Promise<void> {
    this.pendingLogs.delete(attempt.id);
    const task = this.scheduler.attempt(attempt.id)?.active.tasks.get(attempt.taskId);
    for (const [step] of task?.spec.steps.entries() ?? []) {
      const key = { run: attempt.runId, attempt: attempt.id, step };
      if (!this.logs.live(key)) continue;
      const stamps = { ...key, step: stampsStream(step) };
      if (this.logs.live(stamps)) await this.storeStamps(key, this.logs.stored(stamps));
      const log = await this.logs.finalize(key, this.logs.stored(key));
      if (log.object) await this.registry.record(log.object, "log", log, runOwner(attempt.runId));
      await this.db
        .update(steps)
        .set({
          status: "lost",
          error: "partial log: the attempt was lost",
          logObject: log.object,
          logSize: log.size,
          firstByteAt: log.firstByteAt,
        })
        .where(and(eq(steps.attemptId, attempt.id), eq(steps.index, step), isNull(steps.logObject)));
    }
  }

  /** Frees the attempt's slot and lets the engine decide what comes next. Callers hold `serial`. */
  async ended(attempt: AttemptRow): Promise<void> {
    // the engine looks at the run whatever happens here: the attempt's end is stored, and a run left
    // unadvanced would wait for a restart
    let unhurried = false;
    try {
      this.freeSlot(attempt);
      const found = this.scheduler.attempt(attempt.id);
      const task = found?.active.tasks.get(attempt.taskId);
      task?.spec.steps.forEach((_, step) => {
        this.logs.release({ run: attempt.runId, attempt: attempt.id, step });
        this.logs.release({ run: attempt.runId, attempt: attempt.id, step: stampsStream(step) });
      });
      // a success no other task waits for, while others of its run go on: what the engine makes of it holds nothing
      // up (requestAdvance). The run's last one goes at once: nothing else would bring the run's end sooner.
      unhurried =
        !!found &&
        !!task &&
        attempt.state === "success" &&
        !dependedOn(found.active, task.name) &&
        anotherActive(found.active, attempt.id);
    } finally {
      this.scheduler.requestAdvance(attempt.runId, [attempt.id], unhurried);
    }
  }
}
