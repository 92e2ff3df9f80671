/**
 * A Worker's body: checkpoints a local database's WAL on a connection of its own, off the coordinator's event loop
 * (background-checkpoints.ts). A checkpoint in the commit that crossed SQLite's threshold took about 14% of the
 * coordinator's time at full throughput. PASSIVE waits for no reader or writer, but the WAL starts again from its
 * beginning only after a checkpoint that copied every frame, which steady writes can keep from happening: past
 * `maxWalBytes` a TRUNCATE checkpoint waits for the writer (up to a second) and holds the next one back while it
 * copies and empties the WAL, as a commit's own checkpoint did.
 */
import { existsSync, statSync } from "node:fs";
import Database from "libsql";

export interface CheckpointerSetup {
  path: string;
  periodMs: number;
  /** a WAL smaller than this is left alone (SQLite's own threshold is 1,000 pages, about 4 MiB) */
  minWalBytes: number;
  /** a WAL larger than this is emptied, holding writers back for the moment it takes */
  maxWalBytes: number;
}

declare const self: Worker;

self.onmessage = ({ data }: MessageEvent<CheckpointerSetup>) => {
  const db = new Database(data.path);
  // only TRUNCATE waits (PASSIVE never calls the busy handler); a wait that runs out is tried at the next period
  db.exec("PRAGMA busy_timeout = 1000");
  const passive = db.prepare("PRAGMA wal_checkpoint(PASSIVE)");
  const truncate = db.prepare("PRAGMA wal_checkpoint(TRUNCATE)");
  const wal = `${data.path}-wal`;
  setInterval(() => {
    try {
      const size = existsSync(wal) ? statSync(wal).size : 0;
      if (size >= data.maxWalBytes) truncate.all();
      else if (size >= data.minWalBytes) passive.all();
    } catch (e) {
      if (/database is locked|SQLITE_BUSY/i.test(String(e))) return;
      // the coordinator goes back to checkpointing in its commits
      self.postMessage({ failed: String(e) });
      process.exit(1);
    }
  }, data.periodMs);
  self.postMessage({ ready: true });
};
