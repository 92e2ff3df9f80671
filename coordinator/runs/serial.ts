/**
 * Runs state changes one at a time, in arrival order. The engine's decisions are
 * only sound on a consistent snapshot, and SQLite serialises writers anyway.
 */
export class Serial {
  private tail: Promise<unknown> = Promise.resolve();

  run<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.tail.then(fn, fn);
    this.tail = next.catch(() => undefined);
    return next;
  }
}
