import { closeSync, fstatSync, openSync, read } from "node:fs";
import { type Libc, libc } from "../../shared/libc.ts";

// <fcntl.h>
const SYNC_FILE_RANGE_WAIT_BEFORE = 1;
const SYNC_FILE_RANGE_WRITE = 2;
const SYNC_FILE_RANGE_WAIT_AFTER = 4;
const POSIX_FADV_SEQUENTIAL = 2;
const POSIX_FADV_DONTNEED = 4;

/** Writeback is started a segment at a time; the segment before is waited for and dropped. */
const SEGMENT = 16 * 1024 * 1024;
const TICK_MS = 10;
/** Bytes read at a time when an object is served; two buffers take turns. */
const READ_BLOCK = 1024 * 1024;

/**
 * Keeps an object being written out of the page cache, as it grows: the runtime writes the
 * request body into the file natively, and every few milliseconds this starts the writeback of
 * what it wrote and drops what is already on the disk. An object is written once and read about
 * once, mostly by an agent on another machine; caching it only pushes out what the coordinator
 * keeps hot, and each new GiB of page cache is memory the machine may not have touched before (on
 * a VM whose host takes back what the guest frees, writing a GiB costs 2.5 s that way, against
 * 0.5 s when the same few MiB are reused). What stays cached is at most two segments, and the file
 * is the same file: a reader sees every byte written, from the cache or from the disk.
 */
export class DropBehind {
  private started = 0;
  private dropped = 0;
  private readonly timer: Timer;

  private constructor(
    private readonly fd: number,
    private readonly c: Libc,
  ) {
    this.timer = setInterval(() => this.step(fstatSync(fd).size, false), TICK_MS);
  }

  /** Null where the calls are missing (not Linux with glibc): the file is then cached as usual. */
  static follow(fd: number): DropBehind | null {
    const c = libc();
    return c ? new DropBehind(fd, c) : null;
  }

  /** Stops following; `flush` also writes and drops what remains (the file is complete). */
  stop(flush: boolean): void {
    clearInterval(this.timer);
    if (flush) this.step(fstatSync(this.fd).size, true);
  }

  private step(size: number, last: boolean): void {
    const whole = last ? size : size - (size % SEGMENT);
    if (whole > this.started) {
      this.c.sync_file_range(this.fd, this.started, whole - this.started, SYNC_FILE_RANGE_WRITE);
      this.started = whole;
    }
    // the latest segment's writeback was only started; the ones before it have had a tick to finish
    const settled = last ? this.started : this.started - SEGMENT;
    if (settled > this.dropped) {
      const length = settled - this.dropped;
      this.c.sync_file_range(this.fd, this.dropped, length, SYNC_FILE_RANGE_WAIT_BEFORE | SYNC_FILE_RANGE_WRITE | SYNC_FILE_RANGE_WAIT_AFTER);
      this.c.posix_fadvise(this.fd, this.dropped, length, POSIX_FADV_DONTNEED);
      this.dropped = settled;
    }
  }
}

const readAt = (fd: number, into: Uint8Array, position: number) =>
  new Promise<number>((resolve, reject) => read(fd, into, 0, into.length, position, (err, n) => (err ? reject(err) : resolve(n))));

/**
 * An object's file as a response body, dropped from the page cache behind the reader for the same
 * reasons (above). Read a block ahead into two buffers that take turns: the response copies what it
 * is given, and a write it has not taken yet is waited for before its buffer is filled again. Where
 * the calls are missing the file is still served, just cached.
 */
export function streamDroppingBehind(path: string): ReadableStream<Uint8Array> {
  let cancelled = false;
  const source: Bun.DirectUnderlyingSource<Uint8Array> = {
    type: "direct",
    async pull(controller) {
      const fd = openSync(path, "r");
      const c = libc();
      try {
        const size = fstatSync(fd).size;
        c?.posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
        const blocks = [new Uint8Array(READ_BLOCK), new Uint8Array(READ_BLOCK)];
        let position = 0;
        let dropped = 0;
        let next = readAt(fd, blocks[0]!, 0);
        for (let turn = 0; position < size && !cancelled; turn ^= 1) {
          const n = await next;
          if (n === 0) break;
          position += n;
          const taken = controller.write(blocks[turn]!.subarray(0, n));
          if (taken instanceof Promise) await taken;
          if (position < size) next = readAt(fd, blocks[turn ^ 1]!, position);
          if (c && position - dropped >= SEGMENT) {
            c.posix_fadvise(fd, dropped, position - dropped, POSIX_FADV_DONTNEED);
            dropped = position;
          }
        }
        controller.flush();
        if (c) c.posix_fadvise(fd, dropped, 0, POSIX_FADV_DONTNEED);
        if (!cancelled) controller.close();
      } finally {
        closeSync(fd);
      }
    },
    cancel() {
      cancelled = true;
    },
  };
  // the DOM typings, which the project includes, do not know Bun's direct streams
  return new ReadableStream<Uint8Array>(source as unknown as UnderlyingDefaultSource<Uint8Array>);
}
