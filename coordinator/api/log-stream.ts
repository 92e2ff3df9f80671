import { and, eq } from "drizzle-orm";
import type { Db } from "../db/open.ts";
import { steps } from "../db/schema.ts";
import type { LiveLogs, LogKey } from "../logs/live-logs.ts";
import type { RunEvents } from "../runs/run-events.ts";
import type { Scheduler } from "../runs/scheduler.ts";
import type { ObjectStore } from "../store/object-store.ts";
import { Wake } from "./wake.ts";

export interface LogSources {
  db: Db;
  store: ObjectStore;
  logs: LiveLogs;
  scheduler: Scheduler;
  runEvents: RunEvents;
}

const SAFETY_WAKE_MS = 1000;
const READ_BYTES = 4 * 1024 * 1024;

async function stepRow(db: Db, key: LogKey) {
  const [row] = await db
    .select({ logObject: steps.logObject, status: steps.status })
    .from(steps)
    .where(and(eq(steps.attemptId, key.attempt), eq(steps.index, key.step)));
  return row;
}

/**
 * A step's log as a stream: live bytes as they are stored, then the rest from
 * object storage once the step's log is final. Without `follow` it ends at what
 * is stored now.
 */
export function logStream(src: LogSources, key: LogKey, follow: boolean): ReadableStream<Uint8Array> {
  let sent = 0;
  const wake = new Wake();
  const unwatch = src.logs.watch(key, wake.signal);
  const unsubscribe = src.runEvents.subscribe(key.run, wake.signal);
  const stop = () => {
    unwatch();
    unsubscribe();
  };
  // once the log is final, the rest comes from storage, a chunk per pull so a slow reader holds no backlog
  let stored: ReadableStreamDefaultReader<Uint8Array> | null = null;
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      for (;;) {
        if (stored) {
          const part = await stored.read();
          if (part.done) {
            stop();
            controller.close();
          } else controller.enqueue(part.value);
          return;
        }
        // live bytes first: the database is only asked once the file has nothing new
        const live = src.logs.live(key);
        if (live && live.size > sent) {
          try {
            const bytes = await Bun.file(live.path).slice(sent, Math.min(live.size, sent + READ_BYTES)).bytes();
            sent += bytes.length;
            if (bytes.length) {
              controller.enqueue(bytes);
              return;
            }
          } catch {
            // moved to storage between the check and the read: the object has the rest
          }
        }
        // while the log is being written, its end cannot have been stored: no need to ask the database
        const row = src.logs.writing(key) ? undefined : await stepRow(src.db, key);
        if (row?.logObject) {
          const body = await src.store.get(row.logObject, { start: sent });
          if (!body) {
            stop();
            controller.close();
            return;
          }
          stored = body.getReader();
          continue;
        }
        const attempt = src.scheduler.attempt(key.attempt)?.attempt;
        const active = attempt && (attempt.state === "queued" || attempt.state === "assigned" || attempt.state === "running");
        if (!follow || !active) {
          stop();
          controller.close();
          return;
        }
        await wake.sleep(SAFETY_WAKE_MS);
      }
    },
    cancel() {
      stop();
      void stored?.cancel();
    },
  });
}
