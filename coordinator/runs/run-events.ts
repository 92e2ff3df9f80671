import { gt, max } from "drizzle-orm";
import { type Bus, LocalBus } from "../bus/bus.ts";
import type { Polling } from "../bus/poll.ts";
import type { Db } from "../db/open.ts";
import { events } from "../db/schema.ts";

type Listener = () => void;

/**
 * Wakes whoever watches a run (event streams, log followers) when its state changed, on whichever node it
 * changed: a change is published on the bus as a `run_event` hint, and the watchers re-read the database.
 */
export class RunEvents {
  private readonly listeners = new Map<string, Set<Listener>>();
  private readonly global = new Set<Listener>();
  /** the other nodes' hints asked for, by run (null: every run), while someone here watches it */
  private readonly watching = new Map<string | null, () => void>();

  constructor(private readonly bus: Bus = new LocalBus()) {
    bus.subscribe("run_event", (hint) => this.wake(hint.runId));
  }

  publish(runId: string): void {
    this.bus.publish({ kind: "run_event", runId });
  }

  /** Wakes the watchers of one run and of every run (null: those of every run alone). */
  private wake(runId: string | null): void {
    if (runId !== null) for (const l of this.listeners.get(runId) ?? []) l();
    for (const l of this.global) l();
  }

  private wakeAll(): void {
    for (const set of this.listeners.values()) for (const l of set) l();
    for (const l of this.global) l();
  }

  subscribe(runId: string | null, listener: Listener): () => void {
    const set = runId === null ? this.global : (this.listeners.get(runId) ?? new Set());
    if (runId !== null) this.listeners.set(runId, set);
    if (!this.watching.has(runId)) this.watching.set(runId, this.bus.watchRunEvents(runId, () => this.wake(runId)));
    set.add(listener);
    return () => {
      if (!set.delete(listener) || set.size > 0) return;
      if (runId !== null) this.listeners.delete(runId);
      this.watching.get(runId)?.();
      this.watching.delete(runId);
    };
  }

  /**
   * While hints may be missed (`polling`), looks in the events table for runs with new events and wakes
   * their watchers: one query per period for the whole node, however many watch. Returns the stop.
   */
  pollWhileDeaf(db: Db, polling: Polling): () => void {
    // the newest event seen; null while nobody watches, so a first watcher is not woken by old events
    let seen: number | null = null;
    return polling.every("run events", async () => {
      if (this.listeners.size === 0 && this.global.size === 0) {
        seen = null;
        return;
      }
      if (seen === null) {
        const [row] = await db.select({ seq: max(events.seq) }).from(events);
        seen = row?.seq ?? 0;
        // whoever watched before this read may have missed a hint: one look each
        this.wakeAll();
        return;
      }
      const rows = await db
        .select({ runId: events.runId, seq: max(events.seq) })
        .from(events)
        .where(gt(events.seq, seen))
        .groupBy(events.runId);
      for (const row of rows) {
        seen = Math.max(seen, row.seq ?? 0);
        this.wake(row.runId);
      }
    });
  }
}
