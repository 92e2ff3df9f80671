import { renameSync, writeFileSync } from "node:fs";

/**
 * The agent's own view of its lease, for fencing: the latest time its steps may run. It moves only on a
 * renewal the coordinator confirmed (the welcome, or a `lease` frame answering a numbered heartbeat), to the
 * time that hello or heartbeat was sent plus the TTL. The coordinator counts from when it received it, which is
 * later, so the agent always gives up first. The deadline is also written to a file, for the watchdog and for
 * each step's start (executor/watchdog.ts), which must hold it even when this process cannot run.
 */
export class LeaseClock {
  private deadline = 0;
  private ttlMs = 0;
  private helloSentAt = 0;
  private seq = 0;
  private readonly sent = new Map<number, number>();
  private timer: Timer | null = null;

  constructor(
    private readonly file: string,
    /** called once the deadline passes without a renewal */
    private readonly onLapse: () => void,
  ) {
    this.write();
  }

  get expiresAt(): number {
    return this.deadline;
  }

  lapsed(now = Date.now()): boolean {
    return now >= this.deadline;
  }

  helloSent(now = Date.now()): void {
    this.helloSentAt = now;
    this.sent.clear();
  }

  welcomed(ttlMs: number): void {
    this.ttlMs = ttlMs;
    this.extend(this.helloSentAt + ttlMs);
  }

  /** The number to send with the next heartbeat. */
  heartbeatSent(now = Date.now()): number {
    this.sent.set(++this.seq, now);
    return this.seq;
  }

  renewed(seq: number): void {
    const at = this.sent.get(seq);
    if (at === undefined) return;
    for (const s of this.sent.keys()) if (s <= seq) this.sent.delete(s);
    this.extend(at + this.ttlMs);
  }

  private extend(deadline: number): void {
    if (deadline <= this.deadline) return;
    this.deadline = deadline;
    this.write();
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => this.check(), Math.max(0, deadline - Date.now()));
  }

  /** Called on every lapse check; also on any event after the process was stopped, as timers may fire late. */
  check(now = Date.now()): boolean {
    if (!this.lapsed(now)) return false;
    this.onLapse();
    return true;
  }

  private write(): void {
    writeFileSync(`${this.file}.new`, `${this.deadline}\n`);
    renameSync(`${this.file}.new`, this.file);
  }

  stop(): void {
    if (this.timer) clearTimeout(this.timer);
  }
}
