import { and, eq } from "drizzle-orm";
import type { Bus } from "../bus/bus.ts";
import type { Polling } from "../bus/poll.ts";
import type { Db } from "../db/open.ts";
import { attempts, steps } from "../db/schema.ts";
import { ACTIVE_ATTEMPT_STATES } from "../engine/types.ts";
import { isStampsStream, streamStep } from "../../shared/protocol/index.ts";
import { type LogKey, stampsObjectOf } from "../logs/live-log.ts";
import type { LiveLogs } from "../logs/live-logs.ts";
import type { Written } from "../logs/log-followers.ts";
import type { RunEvents } from "./run-events.ts";
import type { Scheduler } from "./scheduler.ts";
import type { ObjectStore } from "../store/object-store.ts";
import { LiveFileReads } from "./live-file-reads.ts";
import { Wake } from "./wake.ts";

export interface LogSources {
  db: Db;
  store: ObjectStore;
  logs: LiveLogs;
  scheduler: Scheduler;
  runEvents: RunEvents;
  bus: Bus;
  polling: Polling;
}

/**
 * The log as another node has it live (the node its agent is connected to), from byte `offset` on,
 * followed or not; null when no other node has it now.
 */
export type Elsewhere = (offset: number, follow: boolean) => Promise<ReadableStream<Uint8Array> | null>;

export interface LogStreamOptions {
  /** follow the log until its step ends, instead of ending at what is stored now */
  follow: boolean;
  /** the first byte to send */
  offset?: number;
  /** where to look when the log is written on another node; none for a request another node passed on */
  elsewhere?: Elsewhere | null;
}

const SAFETY_WAKE_MS = 1000;

/**
 * The stored object of a step's stream once it is final: its log's, or the timestamps' beside it; "empty" for a
 * step that ended having printed nothing (nothing is stored for it); null while its end is not stored.
 */
async function storedObject(db: Db, key: LogKey): Promise<string | "empty" | null> {
  const [row] = await db
    .select({ logObject: steps.logObject, endedAt: steps.endedAt })
    .from(steps)
    .where(and(eq(steps.attemptId, key.attempt), eq(steps.index, streamStep(key.step))));
  if (!row?.logObject) return row?.endedAt == null ? null : "empty";
  return isStampsStream(key.step) ? stampsObjectOf(row.logObject) : row.logObject;
}

/** Whether the attempt may still write: from memory when this node drives its run, else from the database. */
async function attemptActive(src: LogSources, attemptId: string): Promise<boolean> {
  const known = src.scheduler.attempt(attemptId)?.attempt;
  if (known) return ACTIVE_ATTEMPT_STATES.has(known.state);
  const [row] = await src.db.select({ state: attempts.state }).from(attempts).where(eq(attempts.id, attemptId));
  return !!row && (ACTIVE_ATTEMPT_STATES as ReadonlySet<string>).has(row.state);
}

/** Bytes a follower keeps of what was just written, ahead of its reader, before it falls back to reading the file. */
const PUSH_AHEAD_BYTES = 8 * 1024 * 1024;

/**
 * A step's log as a stream: live bytes as they are stored, then the rest from
 * object storage once the step's log is final. Without `follow` it ends at what
 * is stored now. It is a direct stream: each piece goes straight to the
 * response (or the reader), with no queue in between, and a follower that keeps
 * up is handed each piece as the coordinator writes it.
 *
 * A log written on another node is passed through from there; when that stream breaks (the node died, or
 * the agent moved), the reader looks again (here, in storage, on the other nodes) and goes on from the
 * byte it had reached: every node holds the step's log at the same offsets, as the agent resends it from
 * the start to a node that has none of it.
 */
export function logStream(src: LogSources, key: LogKey, options: LogStreamOptions): ReadableStream<Uint8Array> {
  const reader = new LogReader(src, key, options);
  const source: Bun.DirectUnderlyingSource<Uint8Array> = {
    type: "direct",
    pull: (controller) => reader.run(controller),
    cancel: () => reader.cancel(),
  };
  // the DOM typings, which the project includes, do not know Bun's direct streams
  return new ReadableStream<Uint8Array>(source as unknown as UnderlyingDefaultSource<Uint8Array>);
}

/** A stream passed through: the stored log (its end is the log's end) or another node's answer (whose end is not). */
interface Piped {
  reader: ReadableStreamDefaultReader<Uint8Array>;
  final: boolean;
  /** bytes it gave */
  got: number;
}

class LogReader {
  private sent: number;
  private controller: ReadableStreamDirectController | null = null;
  /** the response has not taken the last write yet: nothing more goes out until it has */
  private full: Promise<unknown> | null = null;
  /** a read of the live file (or an ask of the other nodes) is on its way: pieces written meanwhile wait in `recent` */
  private reading = false;
  private readonly files = new LiveFileReads();
  // once the log is final, the rest comes from storage (or, while another node writes it, from there), a chunk
  // per write so a slow reader holds no backlog
  private piped: Piped | null = null;
  /** whether another node may have the log now: at first, after a hint that one has, after a break, when polling */
  private lookElsewhere = true;
  private askedAt = 0;
  private readonly follow: boolean;
  private readonly elsewhere: Elsewhere | null;
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
    options: LogStreamOptions,
  ) {
    this.follow = options.follow;
    this.sent = options.offset ?? 0;
    this.elsewhere = options.elsewhere ?? null;
    this.left = new Promise((resolve) => {
      this.leave = resolve;
    });
    this.stops = [src.logs.watch(key, this.written, () => this.sent), src.runEvents.subscribe(key.run, this.wake.signal)];
    if (this.elsewhere) {
      this.stops.push(
        src.bus.subscribe("log_bytes", (hint) => {
          if (hint.attemptId !== key.attempt || hint.step !== key.step) return;
          this.lookElsewhere = true;
          this.wake.signal();
        }),
      );
    }
  }

  private readonly written = (written: Written | null): void => {
    // an upload's bytes are not in hand: the file has them
    if (written && written.data.length && !this.piped && !this.gone) {
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
    void this.piped?.reader.cancel().catch(() => {});
  }

  private stop(): void {
    for (const stop of this.stops) stop();
    this.files.close(this.src.logs.readByAll(this.key));
    this.wake.signal();
  }

  /** Sends the next piece, or waits for news; false once there is nothing more to send. */
  private async next(): Promise<boolean> {
    if (this.piped) return this.pipe(this.piped);
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
        const bytes = await this.files.read(live.path, this.sent, live.size, this.src.logs.readByAll(this.key));
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
    if (object === "empty") return false;
    if (object) {
      this.files.close(this.src.logs.readByAll(this.key));
      // a step run by an agent that sent no timestamps has none stored: its stream is empty
      const body = await this.src.store.get(object, { start: this.sent });
      if (!body) return false;
      this.piped = { reader: body.getReader(), final: true, got: 0 };
      return true;
    }
    if (this.elsewhere && this.lookElsewhere) {
      // cleared before asking: a hint arriving meanwhile has the next pass ask again
      this.lookElsewhere = false;
      this.askedAt = Date.now();
      // what this node writes meanwhile waits: the answer starts at `sent` too, and no byte goes twice
      this.reading = true;
      const remote = await this.elsewhere(this.sent, this.follow).finally(() => {
        this.reading = false;
      });
      if (remote) {
        this.piped = { reader: remote.getReader(), final: false, got: 0 };
        return true;
      }
    }
    if (!this.follow || !(await attemptActive(this.src, this.key.attempt))) return false;
    await this.wake.sleep(SAFETY_WAKE_MS);
    // without hints (or in case one was lost), whether another node has the log now is found by asking
    const period = this.src.polling.period;
    if (period !== null && Date.now() - this.askedAt >= period) this.lookElsewhere = true;
    return true;
  }

  /** The next piece of a stream passed through; at the end of another node's, the log is looked for again. */
  private async pipe(piped: Piped): Promise<boolean> {
    let piece: Uint8Array | null;
    try {
      const part = await piped.reader.read();
      piece = part.done ? null : part.value;
    } catch {
      piece = null;
    }
    if (piece) {
      piped.got += piece.length;
      this.send(piece);
      return true;
    }
    this.piped = null;
    if (piped.final || !this.follow) return false;
    // it ended or broke: its node died or finished the step, or the agent moved; where the log is now is
    // asked at once if it gave anything (else after a wait, so a node that answers empty is not asked in a loop)
    if (piped.got > 0) this.lookElsewhere = true;
    return true;
  }
}
