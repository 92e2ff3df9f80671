import { type FileHandle, open } from "node:fs/promises";
import { SEGMENT } from "../store/drop-behind.ts";
import { offThreadCalls, type PageCacheCalls } from "../store/page-cache-calls.ts";

const READ_BYTES = 4 * 1024 * 1024;

/**
 * A reader's reads of the live file, through one handle into one reused buffer: a fresh 4 MiB buffer
 * per read cost 45-64 ms of CPU per 256 MiB read, this 20. The buffer is free again once `send`
 * returns, as the response sends or copies what it is given (the followers test checks that a slow
 * follower gets every byte). The handle stays valid when the file moves into storage. What every reader
 * of the file has read leaves the page cache: the live log's writer keeps it there for them (see DropBehind).
 */
export class LiveFileReads {
  private handle: FileHandle | null = null;
  private cache: PageCacheCalls | null = null;
  private buffer: Uint8Array | null = null;
  private closed = false;
  /** the file's pages before this are dropped from the page cache */
  private dropped = 0;

  /** Bytes from `from` on, up to `to`; the file's pages before `readByAll` are read by every reader. */
  async read(path: string, from: number, to: number, readByAll: number): Promise<Uint8Array> {
    if (!this.handle) {
      const opened = await open(path, "r");
      // closed while it opened: nobody else would close this one
      if (this.closed) {
        await opened.close();
        throw new Error("the log reader has stopped");
      }
      this.handle = opened;
      this.cache = offThreadCalls(opened.fd);
    }
    this.buffer ??= new Uint8Array(READ_BYTES);
    const { bytesRead } = await this.handle.read(this.buffer, 0, Math.min(READ_BYTES, to - from), from);
    const behind = readByAll - (readByAll % SEGMENT);
    if (behind > this.dropped) {
      this.cache?.drop(this.dropped, behind - this.dropped);
      this.dropped = behind;
    }
    return this.buffer.subarray(0, bytesRead);
  }

  /** For good: the reader has moved on to the stored object, or stopped; what the others have read is dropped (all when none reads it). */
  close(readByAll: number): void {
    this.closed = true;
    if (this.handle && readByAll > this.dropped) {
      this.cache?.drop(this.dropped, readByAll === Number.POSITIVE_INFINITY ? 0 : readByAll - this.dropped);
    }
    this.cache?.close();
    this.cache = null;
    void this.handle?.close();
    this.handle = null;
  }
}
