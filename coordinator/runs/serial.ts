import { Gatherer } from "../db/batch.ts";

/**
 * How long state changes may run back to back before the event loop is let through. Each change awaits only writes
 * that complete at once (SQLite in this process), so a chain of them is one long synchronous stretch: requests that
 * need no state change (a list of runs) would wait for the whole queue to drain.
 */
const YIELD_AFTER_MS = 4;

/** When the current stretch of state changes began: one for the process, as it has one event loop. */
let stretchBegan = 0;

/**
 * Lets the event loop through (requests, agents' messages) once state changes have run YIELD_AFTER_MS back to back:
 * between turns, and inside a turn that can grow long (a dispatch pass placing hundreds of attempts, a turn of
 * gathered reports). A turn that breathes still holds the serial queue: no other state change runs meanwhile.
 */
export async function breathe(): Promise<void> {
  if (performance.now() - stretchBegan <= YIELD_AFTER_MS) return;
  await new Promise((resolve) => setImmediate(resolve));
  stretchBegan = performance.now();
}

interface Turn {
  fn: () => Promise<unknown>;
  done: (value: unknown) => void;
  failed: (e: unknown) => void;
}

/**
 * Runs state changes one at a time. The engine's decisions are only sound on a consistent snapshot, and SQLite
 * serialises writers anyway. Two lanes, each in arrival order: new runs (`create`) and everything else (`run`).
 * A new run touches no existing run's state, so it need not wait behind every report queued before it: while both
 * lanes wait, they take turns, and a submission waits for at most one other turn instead of the whole queue.
 */
export class Serial {
  private readonly changes: Turn[] = [];
  private readonly creations: Turn[] = [];
  private busy = false;
  /** whether the last turn was a creation's, so the other lane goes next when both wait */
  private created = false;

  run<T>(fn: () => Promise<T>): Promise<T> {
    return this.queue(this.changes, fn);
  }

  /** A turn that only creates runs (stores them and starts them): taken between others' turns. */
  create<T>(fn: () => Promise<T>): Promise<T> {
    return this.queue(this.creations, fn);
  }

  /** Resolves once every turn queued so far, in either lane, has ended. */
  async settled(): Promise<void> {
    await Promise.all([this.run(async () => {}), this.create(async () => {})]);
  }

  private queue<T>(lane: Turn[], fn: () => Promise<T>): Promise<T> {
    return new Promise<T>((done, failed) => {
      lane.push({ fn, done: done as (value: unknown) => void, failed });
      if (!this.busy) void this.drain();
    });
  }

  private async drain(): Promise<void> {
    this.busy = true;
    // a turn queued now starts after the caller's synchronous part, as it would behind a promise
    await Promise.resolve();
    while (this.changes.length + this.creations.length > 0) {
      await breathe();
      this.created = this.creations.length > 0 && (this.changes.length === 0 || !this.created);
      const turn = (this.created ? this.creations : this.changes).shift()!;
      try {
        turn.done(await turn.fn());
      } catch (e) {
        turn.failed(e);
      }
    }
    this.busy = false;
  }
}

/** An attempt's move that may share a serial turn, and so a commit, with others: `move` writes, `after` acts on it. */
export interface SharedMove<R> {
  /** moves sharing a turn touch different attempts: one whose attempt is already in the turn waits for the next */
  attempt: string;
  move: () => Promise<R>;
  after: (moved: R) => Promise<void> | void;
}

interface Waiting {
  change: SharedMove<unknown>;
  done: () => void;
  failed: (e: unknown) => void;
}

/**
 * Gathers agents' reports that arrive while the serial queue is busy into one turn: their conditional updates are
 * asked for at once, so they share one commit (`executeTogether`), and each acts on its own answer after it. Within
 * a turn, moves go in arrival order; a second move of one attempt waits for the first's answer.
 */
export class SharedTurns {
  private readonly gatherer: Gatherer<SharedTurns, Waiting>;

  constructor(serial: Serial, max = 64) {
    this.gatherer = new Gatherer(max, (_, take) => void serial.run(() => this.apply(take())));
  }

  run<R>(change: SharedMove<R>): Promise<void> {
    return new Promise((done, failed) => this.gatherer.add(this, { change: change as SharedMove<unknown>, done, failed }));
  }

  private async apply(group: Waiting[]): Promise<void> {
    let left = group;
    while (left.length > 0) {
      const seen = new Set<string>();
      const wave = left.filter((w) => !seen.has(w.change.attempt) && seen.add(w.change.attempt));
      left = left.filter((w) => !wave.includes(w));
      const moved = await Promise.allSettled(wave.map((w) => w.change.move()));
      for (const [i, w] of wave.entries()) {
        const m = moved[i]!;
        if (m.status === "rejected") {
          w.failed(m.reason);
          continue;
        }
        try {
          await breathe();
          await w.change.after(m.value);
          w.done();
        } catch (e) {
          w.failed(e);
        }
      }
    }
  }
}
