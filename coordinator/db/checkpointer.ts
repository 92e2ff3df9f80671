/**
 * A Worker's body: checkpoints a local database's WAL on a connection of its own, off the coordinator's event loop
 * (background-checkpoints.ts). A checkpoint in the commit that crossed SQLite's threshold took about 14% of the
 * coordinator's time at full throughput. PASSIVE waits for no reader or writer; what it could not copy is copied
 * at the next period.
 */
import { existsSync, statSync } from "node:fs";
import Database from "libsql";

export interface CheckpointerSetup {
  path: string;
  periodMs: number;
  /** a WAL smaller than this is left alone (SQLite's own threshold is 1,000 pages, about 4 MiB) */
  minWalBytes: number;
}

declare const self: Worker;

self.onmessage = ({ data }: MessageEvent<CheckpointerSetup>) => {
  const db = new Database(data.path);
  const checkpoint = db.prepare("PRAGMA wal_checkpoint(PASSIVE)");
  const wal = `${data.path}-wal`;
  setInterval(() => {
    try {
      if (existsSync(wal) && statSync(wal).size >= data.minWalBytes) checkpoint.all();
    } catch (e) {
      // the coordinator goes back to checkpointing in its commits
      self.postMessage({ failed: String(e) });
      process.exit(1);
    }
  }, data.periodMs);
  self.postMessage({ ready: true });
};
