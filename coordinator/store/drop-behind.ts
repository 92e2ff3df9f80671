import { fstatSync } from "node:fs";
import { libc } from "../../shared/libc.ts";
import { AppendReservation } from "../../shared/reserve-space.ts";
import { directCalls, type PageCacheCalls } from "./page-cache-calls.ts";

// <fcntl.h>
const POSIX_FADV_SEQUENTIAL = 2;

/** Writeback is started a segment at a time; what lies two segments back is dropped. */
export const SEGMENT = 16 * 1024 * 1024;
/**
 * How far behind the writer pages are kept for a reader that has not read them yet: a follower behind the
 * writer would otherwise read them back from the disk, which is what held a followed log to the disk's pace.
 */
export const KEEP_FOR_READERS = 128 * 1024 * 1024;
const FOLLOW_TICK_MS = 10;

/**
 * Keeps a file that is being appended to out of the page cache behind its writer: as each new full
 * segment is written its writeback is started, and the segments older than the one before are dropped
 * from the cache. An object is written once and read about once, mostly by an agent on another
 * machine; caching it only pushes out what is hot, and each new GiB of page cache is memory the
 * machine may not have touched for a while (on a VM whose host takes back what the guest frees,
 * writing a GiB that way costs 2.3-3.1 s here, against 0.5 s when the same few MiB are reused; a step
 * log of 256 MiB written after three others took 460 ms of CPU instead of 45). Nothing here waits for
 * the disk (on a slow disk that would stall the event loop): pages still being written back are simply
 * dropped by a later call. The data is the same, a reader gets every byte, from the cache or from the
 * disk. The calls are made through `calls` (a live log's on a thread of their own, see page-cache-calls.ts);
 * where they are missing (not Linux with glibc) the file is cached as usual.
 */
export class DropBehind {
  private started = 0;
  private dropped = 0;

  constructor(private readonly calls: PageCacheCalls | null) {}

  /**
   * The file holds `size` bytes now; what lies from `keepFrom` on is still to be read (up to `keepFor` behind the
   * writer), so it stays cached: its readers drop it behind them.
   */
  wrote(size: number, keepFrom = Number.POSITIVE_INFINITY, keepFor = KEEP_FOR_READERS): void {
    const through = size - (size % SEGMENT);
    if (!this.calls || through <= this.started) return;
    this.calls.writeBack(this.started, through - this.started);
    this.started = through;
    // from a segment before the last drop, for pages that were still under writeback then
    const from = Math.max(0, this.dropped - SEGMENT);
    const unread = Number.isFinite(keepFrom) ? keepFrom - (keepFrom % SEGMENT) : keepFrom;
    const upTo = Math.min(this.started - 2 * SEGMENT, Math.max(unread, this.started - keepFor));
    this.dropped = Math.max(this.dropped, upTo);
    if (this.dropped > from) this.calls.drop(from, this.dropped - from);
  }

  /**
   * The file is complete: the rest's writeback starts, and what is clean is dropped (after an fsync, all of it),
   * but for what lies from `keepFrom` on, which its readers drop behind them.
   */
  complete(keepFrom = Number.POSITIVE_INFINITY): void {
    this.calls?.writeBack(this.started, 0);
    if (keepFrom === Number.POSITIVE_INFINITY) this.calls?.drop(0, 0);
    else if (keepFrom > 0) this.calls?.drop(0, keepFrom);
  }

  /** No more calls: the caller may close the file. */
  close(): void {
    this.calls?.close();
  }
}

/**
 * Keeps a file that another writer (the runtime's native write of a request body) is filling out of
 * the page cache as it grows (see DropBehind), looking every few milliseconds. Once the body is
 * complete, the caller drops the rest after its fsync. Returns the function that stops following, or
 * null where the calls are missing. `unreadFrom` says where a reader following the file is (see DropBehind.wrote). Disk space is reserved ahead of the writer as well (see
 * AppendReservation), and what is left of it freed once the file is complete.
 */
export function followWrites(fd: number, unreadFrom?: () => number): ((complete: boolean) => void) | null {
  if (!libc()) return null;
  const cache = new DropBehind(directCalls(fd));
  const reservation = new AppendReservation(fd);
  const timer = setInterval(() => {
    const size = fstatSync(fd).size;
    reservation.grow(size);
    // the reader is an agent prefetching the object, as fast as it can: every page it has yet to read stays (at most
    // the object); with only KEEP_FOR_READERS kept, one fallen behind the upload read the rest back from the disk
    cache.wrote(size, unreadFrom?.(), Number.POSITIVE_INFINITY);
  }, FOLLOW_TICK_MS);
  return (complete) => {
    clearInterval(timer);
    if (!complete) return;
    reservation.release(fstatSync(fd).size);
    cache.complete(unreadFrom?.());
  };
}

/** Drops the clean cached pages of [start, start + length) (length 0: to the end). */
export function dropCached(fd: number, start: number, length: number): void {
  directCalls(fd)?.drop(start, length);
}

/** Tells the kernel `fd` will be read from start to end: it reads further ahead. */
export function readingSequentially(fd: number): void {
  libc()?.posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
}
