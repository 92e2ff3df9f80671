import { type FileHandle, open } from "node:fs/promises";
import { and, eq } from "drizzle-orm";
import type { Db } from "../db/open.ts";
import { steps } from "../db/schema.ts";
import { ACTIVE_ATTEMPT_STATES } from "../engine/types.ts";
import { isStampsStream, streamStep } from "../../shared/protocol/index.ts";
import { type LiveLogs, type LogKey, stampsObjectOf, type Written } from "../logs/live-logs.ts";
import type { RunEvents } from "./run-events.ts";
import type { Scheduler } from "./scheduler.ts";
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

/**
 * A reader's reads of the live file, through one handle into one reused buffer: a fresh 4 MiB buffer
 * per read cost 45-64 ms of CPU per 256 MiB read, this 20. The buffer is free again once `send`
 * returns, as the response sends or copies what it is given (the followers test checks that a slow
 * follower gets every byte). The handle stays valid when the file moves into storage.
 */
class LiveFileReads {
  private handle: FileHandle | null = null;
  private buffer: Uint8Array | null = null;
  private closed = false;

  async read(path: string, from: number, to: number): Promise<Uint8Array> {
    if (!this.handle) {
      const opened = await open(path, "r");
      // closed while it opened: nobody else would close this one
      if (this.closed) {
        await opened.close();
        throw new Error("the log reader has stopped");
      }
      this.handle = opened;
    }
    this.buffer ??= new Uint8Array(READ_BYTES);
    const { bytesRead } = await this.handle.read(this.buffer, 0, Math.min(READ_BYTES, to - from), from);
    return this.buffer.subarray(0, bytesRead);
  }

  /** For good: the reader has moved on to the stored object, or stopped. */
  close(): void {
    this.closed = true;
    void this.handle?.close();
    this.handle = null;
  }
}

/** The stored object of a step's stream once it is final: its log's, or the timestamps' beside it. */
async function storedObject(db: Db, key: LogKey): Promise<string | null> {
  const [row] = await db
    .select({ logObject: steps.logObject })
    .from(steps)
    .where(and(eq(steps.attemptId, key.attempt), eq(steps.index, streamStep(key.step))));
  if (!row?.logObject) return null;
  return isStampsStream(key.step) ? stampsObjectOf(row.logObject) : row.logObject;
}

/** Bytes a follower keeps of what was just written, ahead of its reader, before it falls back to reading the file. */
const PUSH_AHEAD_BYTES = 8 * 1024 * 1024;

/**
 * A step's log as a stream: live bytes as they are stored, then the rest from
 * object storage once the step's log is final. Without `follow` it ends at what
 * is stored now. It is a direct stream: each piece goes straight to the
 * response (or the reader), with no queue in between, and a follower that keeps
 * up is handed each piece as the coordinator writes it.
 */
export function logStream(src: LogSources, key: LogKey, follow: boolean): ReadableStream<Uint8Array> {
  const reader = new LogReader(src, key, follow);
  const source: Bun.DirectUnderlyingSource<Uint8Array> = {
    type: "direct",
    pull: (controller) => reader.run(controller),
    cancel: () => reader.cancel(),
  };
  // the DOM typings, which the project includes, do not know Bun's direct streams
  return new ReadableStream<Uint8Array>(source as unknown as UnderlyingDefaultSource<Uint8Array>);
}

class LogReader {
  private sent = 0;
  private controller: ReadableStreamDirectController | null = null;
  /** the response has not taken the last write yet: nothing more goes out until it has */
  private full: Promise<unknown> | null = null;
  /** a read of the live file is on its way: pieces written meanwhile wait in `recent` */
  private reading = false;
  private readonly files = new LiveFileReads();
  // once the log is final, the rest comes from storage, a chunk per write so a slow reader holds no backlog
  private stored: ReadableStreamDefaultReader<Uint8Array> | null = null;
  // pieces written and not yet sent, in order: a reader catching up takes them before it reads the file
  private readonly recent: Written[] = [];
  private recentBytes = 0;
  private readonly wake = new Wake();
  private gone = false;
  private readonly left: Promise<void>;
  private leave = () => {};
  private readonly stops: (() => void)[];

  constructor(
    private readonly src: LogSources,
    private readonly key: LogKey,
    private readonly follow: boolean,
  ) {
    this.left = new Promise((resolve) => {
      this.leave = resolve;
    });
    this.stops = [src.logs.watch(key, this.written), src.runEvents.subscribe(key.run, this.wake.signal)];
  }

  private readonly written = (written: Written | null): void => {
    if (written && !this.stored && !this.gone) {
      // Straight to the response only in order, and never while a read of the file is on its way: no byte twice.
      const inOrder = this.controller && !this.full && !this.reading && this.recent.length === 0 && written.offset === this.sent;
      if (inOrder) this.send(written.data);
      else this.keep(written);
    }
    this.wake.signal();
  };

  private send(piece: Uint8Array): void {
    const taken = this.controller!.write(piece);
    this.controller!.flush();
    this.sent += piece.length;
    if (taken instanceof Promise) {
      this.full = taken.finally(() => {
        this.full = null;
      });
    }
  }

  private keep(written: Written): void {
    this.recent.push(written);
    this.recentBytes += written.data.length;
    while (this.recentBytes > PUSH_AHEAD_BYTES) this.recentBytes -= this.recent.shift()!.data.length;
  }

  /** What of the kept pieces follows `sent` directly; null when they start later (the file has the gap) or there are none. */
  private takeRecent(): Uint8Array | null {
    while (this.recent.length) {
      const { offset, data } = this.recent[0]!;
      if (offset > this.sent) return null;
      this.recent.shift();
      this.recentBytes -= data.length;
      if (offset + data.length <= this.sent) continue;
      return data.subarray(this.sent - offset);
    }
    return null;
  }

  async run(controller: ReadableStreamDirectController): Promise<void> {
    this.controller = controller;
    try {
      while (!this.gone) {
        if (this.full) await Promise.race([this.full, this.left]);
        else if (!(await this.next())) break;
      }
      if (!this.gone) controller.close();
    } finally {
      this.stop();
    }
  }

  cancel(): void {
    this.gone = true;
    this.leave();
    this.stop();
    void this.stored?.cancel();
  }

  private stop(): void {
    for (const stop of this.stops) stop();
    this.files.close();
    this.wake.signal();
  }

  /** Sends the next piece, or waits for news; false once there is nothing more to send. */
  private async next(): Promise<boolean> {
    if (this.stored) {
      const part = await this.stored.read();
      if (part.done) return false;
      this.send(part.value);
      return true;
    }
    const kept = this.takeRecent();
    if (kept) {
      this.send(kept);
      return true;
    }
    // live bytes first: the database is only asked once the file has nothing new
    const live = this.src.logs.live(this.key);
    if (live && live.size > this.sent) {
      this.reading = true;
      try {
        const bytes = await this.files.read(live.path, this.sent, live.size);
        if (bytes.length) {
          this.send(bytes);
          return true;
        }
      } catch {
        // moved to storage between the check and the read: the object has the rest
      } finally {
        this.reading = false;
      }
    }
    // while the log is being written, its end cannot have been stored: no need to ask the database
    const object = this.src.logs.writing(this.key) ? null : await storedObject(this.src.db, this.key);
    if (object) {
      this.files.close();
      // a step run by an agent that sent no timestamps has none stored: its stream is empty
      const body = await this.src.store.get(object, { start: this.sent });
      if (!body) return false;
      this.stored = body.getReader();
      return true;
    }
    const attempt = this.src.scheduler.attempt(this.key.attempt)?.attempt;
    const active = attempt && ACTIVE_ATTEMPT_STATES.has(attempt.state);
    if (!this.follow || !active) return false;
    await this.wake.sleep(SAFETY_WAKE_MS);
    return true;
  }
}
