/**
 * A Worker's body: checkpoints a local database's WAL on a connection of its own, off the coordinator's event loop
 * (background-checkpoints.ts). A checkpoint in the commit that crossed SQLite's threshold took about 14% of the
 * coordinator's time at full throughput. PASSIVE waits for no reader or writer, but the WAL starts again from its
 * beginning only after a checkpoint that copied every frame, which steady writes can keep from happening: past
 * `maxWalBytes` a TRUNCATE checkpoint waits for the writer (up to a second) and holds the next one back while it
 * copies and empties the WAL, as a commit's own checkpoint did.
 */
import { statSync } from "node:fs";
import Database from "libsql";

export interface CheckpointerSetup {
  path: string;
  /** how often the WAL is looked at while it grows or is over `minWalBytes` */
  periodMs: number;
  /** how often while it stays as it was: an idle coordinator's Worker need not wake ten times a second */
  quietPeriodMs: number;
  /** a WAL smaller than this is left alone (SQLite's own threshold is 1,000 pages, about 4 MiB) */
  minWalBytes: number;
  /** a WAL larger than this is emptied, holding writers back for the moment it takes */
  maxWalBytes: number;
}

/** What the coordinator sends: the setup once, then `stop` when its client closes. */
export type CheckpointerMessage = CheckpointerSetup | { stop: true };

declare const self: Worker;

let stop = () => {};

// Checkpoints run by `exec`, which makes no JavaScript objects of libsql's: a Worker terminated while a statement
// made its rows (`all`) aborted the whole process (neon asserts that the VM is not shutting down). The coordinator
// asks it to stop rather than terminating it.
self.onmessage = ({ data }: MessageEvent<CheckpointerMessage>) => {
  if ("stop" in data) return stop();
  const db = new Database(data.path);
  // only TRUNCATE waits (PASSIVE never calls the busy handler); a wait that runs out is tried at the next period
  db.exec("PRAGMA busy_timeout = 1000");
  const wal = `${data.path}-wal`;
  let seen = 0;
  let timer: Timer;
  const look = () => {
    const size = statSync(wal, { throwIfNoEntry: false })?.size ?? 0;
    // a file that grew is being written: looked at again soon, as the writes may go on at full speed
    const soon = size !== seen || size >= data.minWalBytes;
    seen = size;
    timer = setTimeout(look, soon ? data.periodMs : data.quietPeriodMs);
    try {
      if (size >= data.maxWalBytes) db.exec("PRAGMA wal_checkpoint(TRUNCATE)");
      else if (size >= data.minWalBytes) db.exec("PRAGMA wal_checkpoint(PASSIVE)");
    } catch (e) {
      if (/database is locked|SQLITE_BUSY/i.test(String(e))) return;
      // the coordinator goes back to checkpointing in its commits
      self.postMessage({ failed: String(e) });
      process.exit(1);
    }
  };
  timer = setTimeout(look, data.periodMs);
  stop = () => {
    clearTimeout(timer);
    db.close();
    process.exit(0);
  };
  self.postMessage({ ready: true });
};
