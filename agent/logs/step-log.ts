import { closeSync, openSync, readSync, writeSync } from "node:fs";
import { rm } from "node:fs/promises";
import { logChunkFrame, setLogChunkOffset } from "../../shared/protocol/log-frame.ts";
import { backoffMs } from "../../shared/retry.ts";
import type { LogUploadOutcome, LogUploadTarget } from "./log-upload.ts";

/** Bytes in flight (sent, not yet acknowledged) per step before sending waits for acks. */
const WINDOW_BYTES = 32 * 1024 * 1024;
const READ_BYTES = 256 * 1024;
/**
 * A log's frame buffer until a read needs more: most steps' output and all timestamps come in pieces this small, and
 * a 256 KiB buffer per stream (two per step) took 35 us to make and was a collection's worth of garbage every few
 * hundred steps.
 */
const FIRST_FRAME_BYTES = 4 * 1024;
/** Reads closer together than this share the earlier one's timestamp: the stamps stay a small fraction of the log. */
const STAMP_EVERY_MS = 10;
const encoder = new TextEncoder();
/**
 * Unsent bytes from which a log goes as an HTTP upload instead of frames: the coordinator writes an upload
 * into the file natively (a followed 256 MiB step cost it 370-640 ms of CPU instead of 690-1,030), but a
 * request costs more than the frames of a small log.
 */
const UPLOAD_FROM = 1024 * 1024;
/**
 * An upload ends (and the next one starts) after this many bytes unless its node says how many it takes: a
 * coordinator refuses a request body past its object size cap.
 */
const UPLOAD_BYTES = 64 * 1024 * 1024;
/** The pieces an upload reads from the spool; the socket takes each whole, and its buffer is used again. */
const UPLOAD_READ_BYTES = 1024 * 1024;
/** Offset refusals in a row before a step's log gives up uploading: its node and the agent disagree about it. */
const OFFSET_TRIES = 3;

/** One upload of a log in flight: its bytes so far, its spare buffers, and how to wake it for more. */
interface Upload {
  readonly abort: AbortController;
  /** the most it carries */
  readonly limit: number;
  bytes: number;
  readonly free: Uint8Array[];
  wake: (() => void) | null;
}

export interface LogSender {
  /**
   * Sends a copy of the frame (the caller reuses its buffer); false while disconnected (the bytes stay
   * spooled and go out after the reconnect) or while the socket is full.
   */
  sendBinary(frame: Uint8Array): boolean;
  /** Calls `fn` once the socket has room again. */
  whenWritable(fn: () => void): void;
  /** Where a log may be uploaded now; null (or none) while it may not: frames only. */
  uploadTarget?(): LogUploadTarget | null;
}

/**
 * One step's output on the agent. Every byte is in a spool file first, so memory
 * stays bounded however much is unacknowledged; bytes go out at once when the
 * sender is caught up, and are re-read from the spool after a reconnect. The
 * spool is either written here (`write`) or, when nothing needs redacting, it is
 * the step's own output file, written by the step's process (`grew`).
 */
export class StepLog {
  private readonly fd: number;
  written = 0;
  private sent = 0;
  acked = 0;
  private ended = false;
  private drained: (() => void) | null = null;
  private frame: { frame: Uint8Array; data: Uint8Array } | null = null;
  private closed = false;
  private stampedAt = 0;
  private upload: Upload | null = null;
  /** uploads refused for good for this step (another node, the cap, an older coordinator): frames only */
  private framesOnly = false;
  /** after a busy refusal or a broken upload, the next waits until then (frames go meanwhile) */
  private uploadAfter = 0;
  private uploadTries = 0;

  constructor(
    private readonly attempt: string,
    readonly step: number,
    private readonly path: string,
    private readonly sender: LogSender,
    external = false,
    /** where this log records when its lines were read (its timestamps stream); none for that stream itself */
    readonly stamps: StepLog | null = null,
  ) {
    this.fd = openSync(path, external ? "r" : "w+");
  }

  /** The step's process wrote up to `size`: send now if nothing is in flight, else on the next ack. */
  grew(size: number): void {
    const from = this.written;
    const now = this.stamps && size > from ? Date.now() : 0;
    this.written = size;
    // the bytes go out before their timestamp: a step's first byte reaches the coordinator a frame sooner
    if (this.sent === this.acked || this.upload) this.pump();
    if (now) this.stamp(from, now);
  }

  /** Every line starting in the bytes read from `from` on began by `now`: one record for the read. */
  private stamp(from: number, now: number): void {
    if (now - this.stampedAt < STAMP_EVERY_MS) return;
    this.stampedAt = now;
    this.stamps!.write(encoder.encode(`${from} ${now}\n`));
  }

  /** Spools bytes (redacted output); they go out as the step's own output does. */
  write(data: Uint8Array): void {
    if (data.length === 0) return;
    writeSync(this.fd, data, 0, data.length, this.written);
    this.grew(this.written + data.length);
  }

  /** Sends what the spool holds past `sent`, as far as the window allows: by upload if one is on its way or due, else in frames. */
  pump(): void {
    if (this.upload) {
      this.upload.wake?.();
      return;
    }
    const target = this.uploadDue();
    if (target) {
      // the frames in flight are acknowledged first: an upload starts at the offset stored
      if (this.sent === this.acked) this.startUpload(target);
      return;
    }
    // One frame buffer, read into in place: the socket copies what it sends, so it is free again at once.
    const pending = this.written - this.sent;
    if (!this.frame || (this.frame.data.length < pending && this.frame.data.length < READ_BYTES)) {
      this.frame = logChunkFrame(this.attempt, this.step, 0, pending > FIRST_FRAME_BYTES ? READ_BYTES : FIRST_FRAME_BYTES);
    }
    const { frame, data } = this.frame;
    const room = data.length;
    while (!this.closed && this.sent < this.written && this.sent - this.acked < WINDOW_BYTES) {
      const n = readSync(this.fd, data, 0, Math.min(room, this.written - this.sent), this.sent);
      if (n === 0) return;
      setLogChunkOffset(frame, this.sent);
      if (!this.sender.sendBinary(frame.subarray(0, frame.length - room + n))) {
        this.sender.whenWritable(this.pumpLater);
        return;
      }
      this.sent += n;
    }
  }

  private readonly pumpLater = () => this.pump();

  /**
   * Where to upload the log now, if enough is unsent (the coordinator never writes frames and an upload of a
   * log at once, and refuses an upload that does not start at the offset stored).
   */
  private uploadDue(): LogUploadTarget | null {
    if (this.closed || this.framesOnly || this.written - this.sent < UPLOAD_FROM || Date.now() < this.uploadAfter) return null;
    return this.sender.uploadTarget?.() ?? null;
  }

  private startUpload(target: LogUploadTarget): void {
    const upload: Upload = {
      abort: new AbortController(),
      limit: target.maxBytes ?? UPLOAD_BYTES,
      bytes: 0,
      free: [],
      wake: null,
    };
    this.upload = upload;
    const body = new ReadableStream<Uint8Array>({ pull: (controller) => this.fill(upload, controller) }, { highWaterMark: 0 });
    const reuse = (piece: Uint8Array) => upload.free.push(new Uint8Array(piece.buffer));
    const log = { attempt: this.attempt, step: this.step, offset: this.sent };
    // loaded with the first large log: most steps print less, and the agent starts without it
    void import("./log-upload.ts")
      .then(({ uploadLog }) => uploadLog(target, log, body, reuse, upload.abort.signal))
      .then((outcome) => this.uploaded(upload, outcome));
  }

  /** Gives the upload its next piece of the spool, waiting for the step's output (or an ack) when there is none; ends it at its size or the log's end. */
  private async fill(upload: Upload, controller: ReadableStreamDefaultController<Uint8Array>): Promise<void> {
    while (this.upload === upload && !this.closed) {
      const room = Math.min(
        UPLOAD_READ_BYTES,
        this.written - this.sent,
        this.acked + WINDOW_BYTES - this.sent,
        upload.limit - upload.bytes,
      );
      if (room > 0) {
        const buffer = upload.free.pop() ?? new Uint8Array(UPLOAD_READ_BYTES);
        const n = readSync(this.fd, buffer, 0, room, this.sent);
        if (n > 0) {
          this.sent += n;
          upload.bytes += n;
          controller.enqueue(buffer.subarray(0, n));
          return;
        }
      }
      if (upload.bytes >= upload.limit || (this.ended && this.sent >= this.written)) return controller.close();
      await new Promise<void>((resolve) => {
        upload.wake = resolve;
      });
      upload.wake = null;
    }
  }

  /** An upload is over: what it stored counts, and what follows goes by the next upload or in frames. */
  private uploaded(upload: Upload, outcome: LogUploadOutcome): void {
    if (this.upload !== upload) return;
    this.upload = null;
    // only what the node holding the agent's connection says it stored is known to be there: the rest goes again
    let stored = this.acked;
    if ("failed" in outcome) {
      // disconnected: the welcome after the reconnect says where to resume
      if (outcome.disconnected) return;
      this.uploadLater();
    } else if ("refused" in outcome) {
      if (outcome.refused === "offset" && outcome.stored !== null && ++this.uploadTries <= OFFSET_TRIES) {
        this.resume(outcome.stored);
        return;
      }
      // busy: an earlier upload of the log is still being written there; frames meanwhile, another upload later
      if (outcome.refused === "busy") this.uploadLater();
      else this.framesOnly = true;
      if (outcome.refused !== "elsewhere" && outcome.stored !== null) stored = outcome.stored;
    } else {
      this.uploadTries = 0;
      stored = outcome.stored;
    }
    this.acked = Math.max(this.acked, stored);
    this.sent = this.acked;
    this.pump();
    this.checkDrained();
  }

  /** The next upload waits a while longer each time (frames go meanwhile). */
  private uploadLater(): void {
    this.uploadAfter = Date.now() + backoffMs(this.uploadTries++, 50, 2_000);
  }

  ack(stored: number): void {
    this.acked = Math.max(this.acked, stored);
    this.sent = Math.max(this.sent, this.acked);
    this.pump();
    this.checkDrained();
  }

  /** After a reconnect the coordinator says how much it holds; everything after it goes again. */
  resume(stored: number): void {
    this.stopUpload();
    this.acked = stored;
    this.sent = stored;
    this.pump();
    this.checkDrained();
  }

  /**
   * The step ended: resolves once the coordinator holds every byte. The spool stays until `close`: the node
   * holding the bytes may die before it stores them, and then they go again to the next node.
   */
  end(): Promise<void> {
    this.ended = true;
    // an upload waiting for more output ends now
    this.upload?.wake?.();
    const drained = new Promise<void>((resolve) => {
      this.drained = resolve;
      this.checkDrained();
    });
    return this.stamps ? Promise.all([drained, this.stamps.end()]).then(() => {}) : drained;
  }

  private stopUpload(): void {
    this.upload?.abort.abort(new Error("the log's upload was given up"));
    this.upload = null;
  }

  private checkDrained(): void {
    if (this.ended && this.acked >= this.written && this.drained) {
      const done = this.drained;
      this.drained = null;
      done();
    }
  }

  /** Drops the spool (and the timestamps stream's): the step's log is stored, or its attempt given up. */
  close(): void {
    this.stamps?.close();
    // closed once stored, and again when its attempt goes: the fd number may be another file's by then
    if (this.closed) return;
    this.closed = true;
    this.stopUpload();
    try {
      closeSync(this.fd);
    } catch {
      // already closed
    }
    // on the thread pool: unlinking a spool file held this thread 0.16 ms at the median, 3.2 at p90 and 13 at p99
    // (a chain of echo steps at load 8), and its ack comes with the coordinator's next assignment, which waited
    void rm(this.path, { force: true }).catch(() => {});
  }
}
