/**
 * How long queued state changes may run back to back before the event loop is let through. Each change awaits
 * only writes that complete at once (SQLite in this process), so a chain of them is one long synchronous
 * stretch: requests that need no state change (a list of runs) would wait for the whole queue to drain.
 */
const YIELD_AFTER_MS = 4;

/**
 * Runs state changes one at a time, in arrival order. The engine's decisions are
 * only sound on a consistent snapshot, and SQLite serialises writers anyway.
 */
export class Serial {
  private tail: Promise<unknown> = Promise.resolve();
  /** when the current stretch of back-to-back changes began */
  private since = 0;

  run<T>(fn: () => Promise<T>): Promise<T> {
    const start = () => this.turn(fn);
    const next = this.tail.then(start, start);
    this.tail = next.catch(() => undefined);
    return next;
  }

  private async turn<T>(fn: () => Promise<T>): Promise<T> {
    const now = performance.now();
    if (now - this.since > YIELD_AFTER_MS) {
      await new Promise((resolve) => setImmediate(resolve));
      this.since = performance.now();
    }
    return fn();
  }
}
