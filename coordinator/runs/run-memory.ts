import type { ActiveRun, AttemptRow, RunRow, TaskRow } from "./active-run.ts";
import type { QueueSink } from "./queue-sink.ts";

/**
 * The scheduler's memory: the unfinished runs with their tasks and attempts, indexed by attempt, and the queue
 * (the dispatcher) that hears of the attempts as they come and change.
 */
export abstract class RunMemory {
  readonly active = new Map<string, ActiveRun>();
  private readonly attemptIndex = new Map<string, ActiveRun>();

  /**
   * Where new attempts go and cancels are sent: the dispatcher, which reads the scheduler's state in
   * turn, so it is connected after both are made (runs never import the dispatch module).
   */
  private sink: QueueSink | null = null;

  dispatchTo(sink: QueueSink): void {
    this.sink = sink;
  }

  protected get queue(): QueueSink {
    if (!this.sink) throw new Error("the scheduler was started without a dispatcher (dispatchTo)");
    return this.sink;
  }

  track(run: RunRow, taskRows: TaskRow[], attemptRows: AttemptRow[]): ActiveRun {
    const active: ActiveRun = {
      run,
      tasks: new Map(taskRows.map((t) => [t.id, t])),
      attempts: new Map(attemptRows.map((a) => [a.id, a])),
    };
    this.active.set(run.id, active);
    for (const a of attemptRows) this.attemptIndex.set(a.id, active);
    return active;
  }

  attempt(id: string): { active: ActiveRun; attempt: AttemptRow } | undefined {
    const active = this.attemptIndex.get(id);
    const attempt = active?.attempts.get(id);
    return active && attempt ? { active, attempt } : undefined;
  }

  /** Stops tracking a run that was tracked again for a change that did not happen. */
  untrack(runId: string): void {
    const active = this.active.get(runId);
    if (active) this.forget(active);
  }

  /** An attempt made here, once stored: in memory, and queued unless it went to an agent in the write that made it. */
  protected added(active: ActiveRun, row: AttemptRow, queued: boolean): void {
    active.attempts.set(row.id, row);
    this.attemptIndex.set(row.id, active);
    if (queued) this.queue.enqueue(row);
  }

  /** An attempt's row as read from the database: memory follows it, and the queue hears what changed. */
  protected merge(active: ActiveRun, row: AttemptRow): void {
    const known = active.attempts.get(row.id);
    if (!known) {
      this.added(active, row, row.state === "queued");
      return;
    }
    if (known.state === row.state && known.cancelRequestedAt === row.cancelRequestedAt && known.agentId === row.agentId) return;
    const before = known.state;
    Object.assign(known, row);
    if (row.state === "queued") this.queue.enqueue(known);
    this.queue.changed(known, before);
  }

  /** The runs in memory, read only as far as admission needs (a group without a limit needs none). */
  protected *runs(): Iterable<RunRow> {
    for (const a of this.active.values()) yield a.run;
  }

  protected forget(active: ActiveRun): void {
    this.active.delete(active.run.id);
    for (const id of active.attempts.keys()) this.attemptIndex.delete(id);
  }
}
