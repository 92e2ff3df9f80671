import { and, eq } from "drizzle-orm";
import type { Db } from "../db/open.ts";
import { steps } from "../db/schema.ts";
import type { LiveLogs, LogKey, Written } from "../logs/live-logs.ts";
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

/** Bytes a follower keeps of what was just written, ahead of its reader, before it falls back to reading the file. */
const PUSH_AHEAD_BYTES = 8 * 1024 * 1024;

/**
 * A step's log as a stream: live bytes as they are stored, then the rest from
 * object storage once the step's log is final. Without `follow` it ends at what
 * is stored now. A follower that keeps up is handed each piece as it is written,
 * or keeps it for its next read, instead of reading it back from the file.
 */
export function logStream(src: LogSources, key: LogKey, follow: boolean): ReadableStream<Uint8Array> {
  let sent = 0;
  let reading = false;
  let controller: ReadableStreamDefaultController<Uint8Array> | null = null;
  const wake = new Wake();
  // once the log is final, the rest comes from storage, a chunk per pull so a slow reader holds no backlog
  let stored: ReadableStreamDefaultReader<Uint8Array> | null = null;
  // pieces written since, in order: a reader catching up takes them before it reads the file
  const recent: Written[] = [];
  let recentBytes = 0;
  const keep = (written: Written) => {
    recent.push(written);
    recentBytes += written.data.length;
    while (recentBytes > PUSH_AHEAD_BYTES) recentBytes -= recent.shift()!.data.length;
  };
  /** What of the kept pieces follows `sent` directly; null when they start later (the file has the gap) or there are none. */
  const takeRecent = (): Uint8Array | null => {
    while (recent.length) {
      const { offset, data } = recent[0]!;
      if (offset > sent) return null;
      recent.shift();
      recentBytes -= data.length;
      if (offset + data.length <= sent) continue;
      const piece = data.subarray(sent - offset);
      sent += piece.length;
      return piece;
    }
    return null;
  };
  const unwatch = src.logs.watch(key, (written) => {
    if (written && !stored) {
      // Straight to the reader only in order, and never while a read of the file is on its way: no byte twice.
      const inOrder = !reading && recent.length === 0 && written.offset === sent;
      if (controller && inOrder && (controller.desiredSize ?? 0) > 0) {
        controller.enqueue(written.data);
        sent += written.data.length;
      } else keep(written);
    }
    wake.signal();
  });
  const unsubscribe = src.runEvents.subscribe(key.run, wake.signal);
  const stop = () => {
    unwatch();
    unsubscribe();
  };
  return new ReadableStream<Uint8Array>(
    {
      start(c) {
        controller = c;
      },
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
          const kept = takeRecent();
          if (kept) {
            controller.enqueue(kept);
            return;
          }
          // live bytes first: the database is only asked once the file has nothing new
          const live = src.logs.live(key);
          if (live && live.size > sent) {
            reading = true;
            try {
              const bytes = await Bun.file(live.path)
                .slice(sent, Math.min(live.size, sent + READ_BYTES))
                .bytes();
              sent += bytes.length;
              if (bytes.length) {
                controller.enqueue(bytes);
                return;
              }
            } catch {
              // moved to storage between the check and the read: the object has the rest
            } finally {
              reading = false;
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
    },
    new ByteLengthQueuingStrategy({ highWaterMark: PUSH_AHEAD_BYTES }),
  );
}
