import { type Pointer, toArrayBuffer } from "bun:ffi";
import { libc } from "../../shared/libc.ts";

// <sys/mman.h>
const PROT_READ = 1;
const MAP_SHARED = 1;

/** Bytes of a file read in place, valid until `unmap` (touching them after that crashes the process). */
export interface MappedRange {
  bytes: Uint8Array;
  unmap(): void;
}

/**
 * Maps [from, to) of the file `fd` for reading, when every page of it is in the page cache (a page that is
 * not would be read from the disk on the caller's thread, where a read on the thread pool waits off it);
 * null otherwise, and where the calls are missing. The caller must know the file holds every byte of the
 * range and is never cut below `to` while it is mapped: touching a page past a file's end raises SIGBUS.
 */
export function mapCached(fd: number, from: number, to: number): MappedRange | null {
  const c = libc();
  if (!c || to <= from) return null;
  const page = c.getpagesize();
  const start = from - (from % page);
  const length = to - start;
  const at = c.mmap(null, length, PROT_READ, MAP_SHARED, fd, start);
  // MAP_FAILED is (void *) -1
  if (!at || at > Number.MAX_SAFE_INTEGER) return null;
  const unmap = () => c.munmap(at, length);
  const resident = new Uint8Array(Math.ceil(length / page));
  if (c.mincore(at, length, resident) !== 0 || resident.some((p) => (p & 1) === 0)) {
    unmap();
    return null;
  }
  return { bytes: new Uint8Array(toArrayBuffer(at as Pointer, from - start, to - from)), unmap };
}
