import { fstatSync } from "node:fs";
import { libc } from "../../shared/libc.ts";
import { AppendReservation } from "../../shared/reserve-space.ts";

// <fcntl.h>
const SYNC_FILE_RANGE_WRITE = 2;
const POSIX_FADV_SEQUENTIAL = 2;
const POSIX_FADV_DONTNEED = 4;

/** Writeback is started a segment at a time; what lies two segments back is dropped. */
export const SEGMENT = 16 * 1024 * 1024;
const FOLLOW_TICK_MS = 10;

/**
 * Keeps a file that another writer (the runtime's native write of a request body) is filling out of
 * the page cache as it grows: every few milliseconds the writeback of each new full segment is
 * started, and the segments older than the one before are dropped from the cache. An object is
 * written once and read about once, mostly by an agent on another machine; caching it only pushes
 * out what is hot, and each new GiB of page cache is memory the machine may not have touched for a
 * while (on a VM whose host takes back what the guest frees, writing a GiB that way costs 2.3-3.1 s
 * here, against 0.5 s when the same few MiB are reused). Nothing here waits for the disk while the
 * body streams (on a slow disk that would stall the event loop): pages still being written back are
 * simply dropped on a later tick. Once the body is complete, the writeback of the rest is started and
 * what is clean dropped; the caller drops the rest after its fsync. The data is the same, a reader gets
 * every byte, from the cache or from the disk. Returns the function that stops following, or null where
 * the calls are missing (not Linux with glibc), and the file is then cached as usual. Disk space is
 * reserved ahead of the writer as well (see AppendReservation), and what is left of it freed once the
 * file is complete.
 */
export function followWrites(fd: number): ((complete: boolean) => void) | null {
  const c = libc();
  if (!c) return null;
  let started = 0;
  let dropped = 0;
  const reservation = new AppendReservation(fd);
  const timer = setInterval(() => {
    const size = fstatSync(fd).size;
    reservation.grow(size);
    const through = size - (size % SEGMENT);
    if (through > started) {
      c.sync_file_range(fd, started, through - started, SYNC_FILE_RANGE_WRITE);
      started = through;
      // from a segment before the last drop, for pages that were still under writeback then
      const from = Math.max(0, dropped - SEGMENT);
      dropped = Math.max(dropped, started - 2 * SEGMENT);
      if (dropped > from) c.posix_fadvise(fd, from, dropped - from, POSIX_FADV_DONTNEED);
    }
  }, FOLLOW_TICK_MS);
  return (complete) => {
    clearInterval(timer);
    if (!complete) return;
    reservation.release(fstatSync(fd).size);
    // the rest's writeback starts; the fsync that follows (if any) waits for it, off the event loop
    c.sync_file_range(fd, started, 0, SYNC_FILE_RANGE_WRITE);
    c.posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
  };
}

/** Drops the clean cached pages of [start, start + length) (length 0: to the end). */
export function dropCached(fd: number, start: number, length: number): void {
  libc()?.posix_fadvise(fd, start, length, POSIX_FADV_DONTNEED);
}

/** Tells the kernel `fd` will be read from start to end: it reads further ahead. */
export function readingSequentially(fd: number): void {
  libc()?.posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
}
