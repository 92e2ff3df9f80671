import { closeSync, openSync, readSync, rmSync, writeSync } from "node:fs";
import { logChunkFrame, setLogChunkOffset } from "../../shared/protocol/log-frame.ts";

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

export interface LogSender {
  /**
   * Sends a copy of the frame (the caller reuses its buffer); false while disconnected (the bytes stay
   * spooled and go out after the reconnect) or while the socket is full.
   */
  sendBinary(frame: Uint8Array): boolean;
  /** Calls `fn` once the socket has room again. */
  whenWritable(fn: () => void): void;
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
    if (this.sent === this.acked) this.pump();
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

  /** Sends what the spool holds past `sent`, as far as the window allows. */
  pump(): void {
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

  ack(stored: number): void {
    this.acked = Math.max(this.acked, stored);
    this.sent = Math.max(this.sent, this.acked);
    this.pump();
    this.checkDrained();
  }

  /** After a reconnect the coordinator says how much it holds; everything after it goes again. */
  resume(stored: number): void {
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
    const drained = new Promise<void>((resolve) => {
      this.drained = resolve;
      this.checkDrained();
    });
    return this.stamps ? Promise.all([drained, this.stamps.end()]).then(() => {}) : drained;
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
    try {
      closeSync(this.fd);
    } catch {
      // already closed
    }
    rmSync(this.path, { force: true });
  }
}
