import { closeSync, type FSWatcher, fstatSync, openSync, readSync, watch } from "node:fs";
import { AppendReservation } from "../../shared/reserve-space.ts";

const FIRST_POLL_MS = 1;
/** the poll after a quiet spell, when a write wakes the tail at once anyway (where inotify works) */
const IDLE_POLL_MS = 50;
/** empty polls at full speed before slowing down: most steps print their first line within this many ms */
const EAGER_POLLS = 30;
const READ_BYTES = 1024 * 1024;

/**
 * Follows a file another process writes (a step's output). Polling runs every
 * millisecond while output flows or has just stopped, so bytes are seen at once,
 * and slows down after a quiet spell, so a step that sleeps for an hour costs nothing.
 * The step's first write, and the first after a quiet spell, also wake the tail
 * through inotify, so they are not left waiting for the next poll.
 */
export class FileTail {
  private readonly fd: number;
  private offset = 0;
  private delay = FIRST_POLL_MS;
  private empty = 0;
  private timer: Timer | null = null;
  private buffer: Uint8Array | null = null;
  private readonly reservation: AppendReservation;
  private watcher: FSWatcher | null = null;
  private finished = false;

  /**
   * `onBytes` gets the new bytes in a buffer that the next read overwrites, so it must use or copy them
   * before returning; without it only `onSize` is told how far the file has grown.
   */
  constructor(
    private readonly path: string,
    private readonly sink: { onSize?(size: number): void; onBytes?(bytes: Uint8Array): void },
    private readonly idlePollMs = IDLE_POLL_MS,
  ) {
    // writable only to reserve disk space ahead of the writer
    this.fd = openSync(path, "r+");
    this.reservation = new AppendReservation(this.fd);
  }

  start(): void {
    this.poll();
  }

  private readonly woken = (): void => {
    // an event already on its way when the watch closed
    if (this.finished) return;
    if (this.timer) clearTimeout(this.timer);
    this.poll();
  };

  private poll = (): void => {
    const grew = this.catchUp();
    this.empty = grew ? 0 : this.empty + 1;
    this.delay = this.empty < EAGER_POLLS ? FIRST_POLL_MS : this.idlePollMs;
    // Watched only while waiting: inotify wakes the tail for a first write, or the first after a quiet spell,
    // while output flows the poll batches it (an event per write cost as much CPU again as the tail itself).
    if (grew) this.unwatch();
    else if (this.offset === 0 || this.delay > FIRST_POLL_MS) this.watchFile();
    this.timer = setTimeout(this.poll, this.delay);
  };

  private watchFile(): void {
    if (this.watcher) return;
    try {
      this.watcher = watch(this.path, this.woken);
    } catch {
      // no inotify (or no watch left): polling alone still sees every byte
    }
  }

  private unwatch(): void {
    this.watcher?.close();
    this.watcher = null;
  }

  private catchUp(): boolean {
    const size = fstatSync(this.fd).size;
    if (size <= this.offset) return false;
    this.reservation.grow(size);
    if (this.sink.onBytes) {
      this.buffer ??= new Uint8Array(READ_BYTES);
      const buf = this.buffer;
      while (this.offset < size) {
        const n = readSync(this.fd, buf, 0, Math.min(READ_BYTES, size - this.offset), this.offset);
        if (n === 0) break;
        this.offset += n;
        this.sink.onBytes(buf.subarray(0, n));
      }
    } else {
      this.offset = size;
    }
    this.sink.onSize?.(this.offset);
    return true;
  }

  /** The writer is done: take the rest and stop. */
  finish(): void {
    if (this.timer) clearTimeout(this.timer);
    this.finished = true;
    this.unwatch();
    this.catchUp();
    closeSync(this.fd);
  }
}
