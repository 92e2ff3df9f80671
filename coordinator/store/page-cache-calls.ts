import { closeSync } from "node:fs";
import { libc } from "../../shared/libc.ts";
import type { PageCacheCall } from "./page-cache-worker.ts";

// <fcntl.h>
const F_DUPFD_CLOEXEC = 1030;
const SYNC_FILE_RANGE_WRITE = 2;
const POSIX_FADV_DONTNEED = 4;

/** The calls that keep a file's pages out of the page cache (see DropBehind); none waits for the disk. */
export interface PageCacheCalls {
  /** Starts the writeback of [from, from + length) (length 0: to the end). */
  writeBack(from: number, length: number): void;
  /** Drops the clean cached pages of [from, from + length) (length 0: to the end). */
  drop(from: number, length: number): void;
  /** After the last call: the caller may close its descriptor at once. */
  close(): void;
}

/** The calls made on the caller's thread; null where they are missing (not Linux with glibc). */
export function directCalls(fd: number): PageCacheCalls | null {
  const c = libc();
  if (!c) return null;
  return {
    writeBack: (from, length) => c.sync_file_range(fd, from, length, SYNC_FILE_RANGE_WRITE),
    drop: (from, length) => c.posix_fadvise(fd, from, length, POSIX_FADV_DONTNEED),
    close: () => {},
  };
}

/**
 * The Worker's file: in the compiled `drover` binary it is a build entrypoint (scripts/build-cli.ts), kept under
 * its path from the repository's root; from source, beside this file.
 */
const WORKER = import.meta.url.startsWith("file:///$bunfs/")
  ? "/$bunfs/root/coordinator/store/page-cache-worker.js"
  : new URL("./page-cache-worker.ts", import.meta.url).href;

/** Made at the first call (most coordinators' files never fill a segment); null once it failed. */
let worker: Worker | null | undefined;

function pageCacheWorker(): Worker | null {
  if (worker !== undefined) return worker;
  try {
    const made = new Worker(WORKER);
    made.onerror = (e) => {
      console.error(`[store] page-cache calls are made on the event loop again: their Worker failed (${e.message})`);
      worker = null;
    };
    // a Worker keeps a process alive: this one must not
    (made as unknown as { unref(): void }).unref();
    worker = made;
  } catch {
    worker = null;
  }
  return worker;
}

/**
 * The calls made on a Worker of their own, off the event loop: following a 256 MiB log, they took the
 * coordinator's main thread 35-90 ms per step. The Worker gets a duplicate of `fd` (made at the first call)
 * and closes it after the last; where it cannot run, the calls are made here.
 */
export function offThreadCalls(fd: number): PageCacheCalls | null {
  const c = libc();
  if (!c) return null;
  let own: { fd: number; worker: Worker } | null = null;
  const call = (message: (fd: number) => PageCacheCall) => {
    const thread = pageCacheWorker();
    if (!thread) {
      // its Worker failed: what it was given is let go here
      if (own) closeSync(own.fd);
      own = null;
      return false;
    }
    if (!own) {
      const dup = c.fcntl(fd, F_DUPFD_CLOEXEC, 0);
      if (dup < 0) return false;
      own = { fd: dup, worker: thread };
    }
    own.worker.postMessage(message(own.fd));
    return true;
  };
  const here = directCalls(fd)!;
  return {
    writeBack: (from, length) => call((fd) => ({ fd, call: "writeBack", from, length })) || here.writeBack(from, length),
    drop: (from, length) => call((fd) => ({ fd, call: "drop", from, length })) || here.drop(from, length),
    close: () => {
      own?.worker.postMessage({ fd: own.fd, call: "close" } satisfies PageCacheCall);
      own = null;
    },
  };
}
