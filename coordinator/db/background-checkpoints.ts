import type { Client } from "@libsql/client";
import type { CheckpointerMessage, CheckpointerSetup } from "./checkpointer.ts";

/**
 * The Worker's file: in the compiled `drover` binary it is the build's second entrypoint (scripts/build-cli.ts),
 * kept under its path from the repository's root; from source, beside this file.
 */
const WORKER = import.meta.url.startsWith("file:///$bunfs/")
  ? "/$bunfs/root/coordinator/db/checkpointer.js"
  : new URL("./checkpointer.ts", import.meta.url).href;
const SETUP: Omit<CheckpointerSetup, "path"> = { periodMs: 100, quietPeriodMs: 1000, minWalBytes: 4 * 1024 * 1024, maxWalBytes: 16 * 1024 * 1024 };
/** SQLite's default: a commit that leaves the WAL over this many pages checkpoints it. */
const AUTOCHECKPOINT_PAGES = 1000;
/**
 * When the WAL starts again from its beginning, its file is cut back to this: otherwise it keeps its largest size, and
 * once past `minWalBytes` the Worker took every few pages written for a WAL to checkpoint, ten times a second.
 */
const KEPT_WAL_BYTES = 1024 * 1024;

/**
 * Moves a local database's WAL checkpoints off the event loop: the connection no longer checkpoints in its commits,
 * and a Worker with a connection of its own does (checkpointer.ts). Should the Worker fail, the connection
 * checkpoints in its commits again. Closing the client stops the Worker.
 */
export async function checkpointInBackground(client: Client, path: string): Promise<void> {
  const worker = new Worker(WORKER);
  const ready = new Promise<void>((resolve, reject) => {
    worker.onmessage = ({ data }: MessageEvent<{ ready?: true; failed?: string }>) => {
      if (data.ready) resolve();
      if (data.failed) fallBack(data.failed);
    };
    worker.onerror = (e) => reject(e.error ?? new Error(e.message));
  });
  const fallBack = (why: string) => {
    console.error(`[db] background checkpoints stopped (${why}); commits checkpoint the WAL again`);
    worker.terminate();
    if (!client.closed) void client.execute(`PRAGMA wal_autocheckpoint = ${AUTOCHECKPOINT_PAGES}`).catch(() => {});
  };
  worker.postMessage({ ...SETUP, path } satisfies CheckpointerMessage);
  await ready;
  // a Worker keeps a process alive: this one must not (the coordinator exits when its server stops)
  (worker as unknown as { unref(): void }).unref();
  await client.execute("PRAGMA wal_autocheckpoint = 0");
  await client.execute(`PRAGMA journal_size_limit = ${KEPT_WAL_BYTES}`);
  const close = client.close.bind(client);
  client.close = () => {
    // not `terminate`: see checkpointer.ts
    worker.postMessage({ stop: true } satisfies CheckpointerMessage);
    close();
  };
}
