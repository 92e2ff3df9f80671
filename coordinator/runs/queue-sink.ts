import type { AttemptState } from "../engine/types.ts";
import type { ActiveRun, AttemptRow } from "./active-run.ts";

export interface QueueSink {
  enqueue(attempt: AttemptRow): void;
  cancel(attempt: AttemptRow, graceMs: number): void;
  /** an attempt changed in the database by another node (ended, or its cancel requested), now read here */
  changed(attempt: AttemptRow, before: AttemptState): void;
  /** an attempt still queued here of a run that ended elsewhere: it leaves the queue (it holds no agent's slot) */
  leave(attempt: AttemptRow): void;
  /** attempts of `active` about to be made, given to agents in the write that makes them where none waits before them */
  placeAhead(active: ActiveRun, created: AttemptRow[]): PlacedAhead | null;
}

/**
 * Attempts given to agents in the write that makes them (their rows made assigned, as they are inserted): `sent` sends
 * them once stored, `dropped` gives the agents' slots back when the write was refused.
 */
export interface PlacedAhead {
  placed: ReadonlySet<string>;
  sent(): void;
  dropped(): void;
}
