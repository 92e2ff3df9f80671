import { eq } from "drizzle-orm";
import { events, runs, tasks } from "../db/schema.ts";
import { type AttemptEvent, type AttemptTarget, allowed } from "../engine/attempt-transitions.ts";
import type { AttemptRow, TaskRow } from "./active-run.ts";
import { RunReads } from "./run-reads.ts";
import { TransitionQueries } from "./transition-queries.ts";

/**
 * The imperative shell around the engine: keeps unfinished runs in memory (run-memory.ts), feeds them to `advance`
 * and writes what it decides to the database (run-advances.ts), and reads again what other nodes changed
 * (run-reads.ts).
 *
 * With several coordinators on one database, every node keeps every unfinished run in memory (read again when
 * another node says it changed, or by polling), but only the node holding a run's lease (`leases`) runs its
 * engine. Any node may move an attempt of any run (its agent is connected there) by a conditional update.
 */
export class Scheduler extends RunReads {
  private readonly transitionQueries = new TransitionQueries(this.db);

  /**
   * Loads unfinished runs after a start, takes the ones no live node drives, and drives them; queued attempts
   * go back to the queue. Callers hold `serial`.
   */
  async load(): Promise<void> {
    await this.leases.claim();
    await this.readAll();
    for (const id of this.active.keys()) await this.advanceRun(id);
  }

  /**
   * Renews the leases of the runs this node drives and takes runs no live node drives (their node died or
   * stopped). Runs taken are read again and advanced, and so are runs whose advance waited for this renewal; runs
   * lost stay in memory, driven by another node.
   */
  async holdRuns(): Promise<void> {
    await this.leases.renew();
    const taken = await this.leases.claim();
    const resumed = this.leases.resumable().filter((id) => !taken.includes(id));
    if (taken.length > 0) console.error(`[cluster] took over ${taken.length} run(s) no live node drives`);
    if (taken.length === 0 && resumed.length === 0) return;
    await this.serial.run(async () => {
      for (const id of taken) {
        await this.read(id);
        await this.advanceRun(id);
      }
      await this.advanceRuns(resumed);
    });
  }

  /**
   * Applies an attempt event of the engine's transition table with a conditional update, so a stale
   * report (the attempt moved on meanwhile) changes nothing; a change the table does not allow is a bug.
   */
  async transition<E extends AttemptEvent>(
    attemptId: string,
    event: E,
    patch: Partial<AttemptRow> & { state: AttemptTarget<E> },
  ): Promise<AttemptRow | undefined> {
    const found = this.attempt(attemptId);
    if (!found || !allowed(event, found.attempt.state, patch.state)) return undefined;
    const moved = await this.transitionQueries.run(event, attemptId, patch);
    if (!moved) {
      // Another node moved it first: read it again rather than act on what memory says. An attempt another
      // node's agent took is not: many nodes race for each queued attempt, and the winner's hint follows.
      if (event !== "assign") await this.readAttempts(found.active.run.id, [attemptId]);
      return undefined;
    }
    Object.assign(found.attempt, patch);
    if (!this.leases.owns(found.active.run.id)) this.announce(found.active.run.id, [attemptId]);
    return found.attempt;
  }

  async requestCancel(runId: string): Promise<boolean> {
    const active = await this.unfinished(runId);
    if (!active) return false;
    if (active.run.cancelRequestedAt === null) {
      const at = Date.now();
      await this.db.update(runs).set({ cancelRequestedAt: at }).where(eq(runs.id, runId));
      active.run.cancelRequestedAt = at;
    }
    await this.advanceRun(runId);
    return true;
  }

  /** Callers hold `serial`. */
  async setTaskMessage(task: TaskRow, message: string | null): Promise<void> {
    task.statusMessage = message;
    await this.db.update(tasks).set({ statusMessage: message }).where(eq(tasks.id, task.id));
    await this.appendEvent(task.runId, "task_message", { task: task.name, message });
  }

  /** Appends an event that is not a state change of the engine's (an approval, a restart). Callers hold `serial`. */
  async appendEvent(runId: string, kind: string, data: Record<string, unknown>): Promise<void> {
    await this.db.insert(events).values({ runId, kind, data, at: Date.now() });
    this.runEvents.publish(runId);
  }
}
