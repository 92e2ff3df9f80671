import { fstatSync } from "node:fs";
import { type Libc, libc } from "./libc.ts";

// <fcntl.h>
const SYNC_FILE_RANGE_WAIT_BEFORE = 1;
const SYNC_FILE_RANGE_WRITE = 2;
const SYNC_FILE_RANGE_WAIT_AFTER = 4;
const POSIX_FADV_SEQUENTIAL = 2;
const POSIX_FADV_DONTNEED = 4;

/** Writeback is started a segment at a time; the segment before is waited for and dropped. */
export const SEGMENT = 16 * 1024 * 1024;
const FOLLOW_TICK_MS = 10;

/**
 * Keeps a file that is written once and read about once (an object, a log, a log's spool) out of
 * the page cache as it grows: the writeback of each full segment is started as soon as it is written,
 * and the segment before, on the disk by then, is dropped from the cache. Caching such files only
 * pushes out what is hot, and each new GiB of page cache is memory the machine may not have touched
 * for a while (on a VM whose host takes back what the guest frees, writing a GiB that way costs
 * 2.3-3.1 s here, against 0.5 s when the same few MiB are reused). At most two segments stay cached;
 * the data is the same, a reader gets every byte, from the cache or from the disk.
 */
export class DropBehind {
  private started = 0;
  private dropped = 0;

  private constructor(
    private readonly fd: number,
    private readonly c: Libc,
  ) {}

  /** Null where the calls are missing (not Linux with glibc): the file is then cached as usual. */
  static of(fd: number): DropBehind | null {
    const c = libc();
    return c ? new DropBehind(fd, c) : null;
  }

  /** The file holds `size` bytes now (or they have been read, for a file someone else writes). */
  advance(size: number): void {
    this.step(size - (size % SEGMENT), SEGMENT);
  }

  /** The file is complete at `size` bytes: writes and drops the rest. */
  finish(size: number): void {
    this.step(size, 0);
  }

  /** Advances every few milliseconds with the file's size, for a file someone else writes; call the result to stop. */
  follow(): (complete: boolean) => void {
    const timer = setInterval(() => this.advance(fstatSync(this.fd).size), FOLLOW_TICK_MS);
    return (complete) => {
      clearInterval(timer);
      if (complete) this.finish(fstatSync(this.fd).size);
    };
  }

  private step(through: number, keep: number): void {
    if (through > this.started) {
      this.c.sync_file_range(this.fd, this.started, through - this.started, SYNC_FILE_RANGE_WRITE);
      this.started = through;
    }
    // the latest segment's writeback was only started; the ones before it have had time to finish
    const settled = this.started - keep;
    if (settled > this.dropped) {
      const length = settled - this.dropped;
      this.c.sync_file_range(this.fd, this.dropped, length, SYNC_FILE_RANGE_WAIT_BEFORE | SYNC_FILE_RANGE_WRITE | SYNC_FILE_RANGE_WAIT_AFTER);
      this.c.posix_fadvise(this.fd, this.dropped, length, POSIX_FADV_DONTNEED);
      this.dropped = settled;
    }
  }
}

/** Drops the clean cached pages of [start, start + length) (length 0: to the end). */
export function dropCached(fd: number, start: number, length: number): void {
  libc()?.posix_fadvise(fd, start, length, POSIX_FADV_DONTNEED);
}

/** Tells the kernel `fd` will be read from start to end: it reads further ahead. */
export function readingSequentially(fd: number): void {
  libc()?.posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
}
