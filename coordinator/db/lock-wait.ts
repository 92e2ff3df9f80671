import type Database from "libsql";

/** How long a statement waits for another connection's write lock in all, as `busy_timeout` did. */
export const LOCK_WAIT_MS = 5000;
/**
 * The first pause and the longest between two tries: a write holds the lock for a fraction of a millisecond, and the
 * loop stays stopped for as long as the waiter oversleeps the release (three nodes on one file: 0.25 ms at most made
 * 3-5% more tasks per second than 1 ms, BENCHMARKS.md).
 */
const FIRST_PAUSE_MS = 0.05;
const LONGEST_PAUSE_MS = 0.25;

const sleeper = new Int32Array(new SharedArrayBuffer(4));

/** SQLITE_BUSY (or BUSY_RECOVERY) as another connection's lock gives it; not BUSY_SNAPSHOT, which no wait cures. */
const lockedOut = (e: unknown) => {
  const code = (e as { rawCode?: number }).rawCode ?? 0;
  return (code & 0xff) === 5 && code !== 517 && /database is locked/.test(String((e as Error).message));
};

/**
 * Makes a statement wait for another connection's lock (another coordinator on the same file) by retrying it after
 * pauses of 0.05 ms growing to 0.25 ms, instead of SQLite's busy handler, which sleeps 1, 2, 5, 10, 15, 20, 25 ms and
 * on: a node then slept milliseconds with its event loop stopped for a lock held a tenth of that. (A statement that
 * returned SQLITE_BUSY stays in progress, failing its connection's every COMMIT, until it runs again: a retry runs
 * it again.) The connection's `busy_timeout` is 0 (db/open.ts).
 */
export function waitForLocks(statement: Database.Statement): void {
  for (const method of ["run", "all", "get"] as const) {
    const once = statement[method].bind(statement) as (...args: unknown[]) => unknown;
    (statement as unknown as Record<string, unknown>)[method] = (...args: unknown[]) => {
      let waited = 0;
      let pause = FIRST_PAUSE_MS;
      for (;;) {
        try {
          return once(...args);
        } catch (e) {
          if (!lockedOut(e) || waited >= LOCK_WAIT_MS) throw e;
          const before = performance.now();
          Atomics.wait(sleeper, 0, 0, pause);
          waited += performance.now() - before;
          pause = Math.min(pause * 2, LONGEST_PAUSE_MS);
        }
      }
    };
  }
}
