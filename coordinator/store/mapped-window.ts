import { type Pointer, toArrayBuffer } from "bun:ffi";
import { libc } from "../../shared/libc.ts";

// <sys/mman.h>
const PROT_NONE = 0;
const PROT_READ = 1;
const MAP_SHARED = 1;
const MAP_PRIVATE = 2;
const MAP_FIXED = 0x10;
const MAP_ANONYMOUS = 0x20;

type Libc = NonNullable<ReturnType<typeof libc>>;

/**
 * A stretch of the address space a reader maps pieces of files into, one piece at a time, seen through one
 * long-lived buffer: an ArrayBuffer made per piece counted its whole size as new memory for the collector,
 * which then ran every few pieces. Between pieces the stretch is reserved and inaccessible (touching the
 * buffer then crashes the process), so no piece's pages stay mapped and they can leave the page cache.
 */
export class MappedWindow {
  private readonly page: number;
  private readonly bytes: Uint8Array;
  private mapped = 0;

  private constructor(
    private readonly c: Libc,
    private readonly base: Pointer,
    private readonly size: number,
  ) {
    this.page = c.getpagesize();
    this.bytes = new Uint8Array(toArrayBuffer(base, 0, size));
  }

  /** A window for pieces of up to `bytes`; null where the calls are missing or the space is not there. */
  static open(bytes: number): MappedWindow | null {
    const c = libc();
    if (!c) return null;
    const size = bytes + c.getpagesize();
    const base = c.mmap(null, size, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    return failed(base) ? null : new MappedWindow(c, base as Pointer, size);
  }

  /**
   * [from, to) of the file `fd` in place, valid until the next `map`, `release` or `close`; null unless every
   * page of it is in the page cache (a page read from the disk here would block the caller's thread, where a
   * read on the thread pool waits off it). The caller must know the file holds every byte of the range and is
   * never cut below `to` while it is mapped: touching a page past a file's end raises SIGBUS.
   */
  map(fd: number, from: number, to: number): Uint8Array | null {
    this.release();
    const start = from - (from % this.page);
    const length = to - start;
    if (to <= from || length > this.size) return null;
    if (this.c.mmap(this.base, length, PROT_READ, MAP_SHARED | MAP_FIXED, fd, start) !== this.base) return null;
    this.mapped = length;
    const resident = new Uint8Array(Math.ceil(length / this.page));
    if (this.c.mincore(this.base, length, resident) !== 0 || resident.some((p) => (p & 1) === 0)) {
      this.release();
      return null;
    }
    return this.bytes.subarray(from - start, to - start);
  }

  /** Unmaps the piece mapped (its pages may leave the cache), keeping the space reserved. */
  release(): void {
    if (this.mapped === 0) return;
    this.c.mmap(this.base, this.mapped, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
    this.mapped = 0;
  }

  /** For good: nothing may touch what `map` returned any more. */
  close(): void {
    this.c.munmap(this.base, this.size);
    this.mapped = 0;
  }
}

/** MAP_FAILED is (void *) -1 */
const failed = (at: Pointer | bigint | null) => typeof at !== "number" || at === 0 || at > Number.MAX_SAFE_INTEGER;
