import { type FileHandle, open } from "node:fs/promises";
import { SEGMENT } from "../store/drop-behind.ts";
import { MappedWindow } from "../store/mapped-window.ts";
import { offThreadCalls, type PageCacheCalls } from "../store/page-cache-calls.ts";

const READ_BYTES = 4 * 1024 * 1024;

/**
 * A reader's reads of the live file, through one handle. What is in the page cache (the live log's writer
 * keeps what followers have yet to read there, see DropBehind) is mapped and handed over in place: reading
 * it into a buffer on the thread pool was 70 ms of a followed 256 MiB step's 500 ms of coordinator CPU.
 * Anything else is read into one reused buffer (a fresh 4 MiB buffer per read cost 45-64 ms of CPU per
 * 256 MiB, this 20). Either is free again once `send` returns, as the response sends or copies what it is
 * given (the followers test checks that a slow follower gets every byte): a piece stays mapped until the
 * next read. The handle stays valid when the file moves into storage. What every reader of the file has read
 * leaves the page cache.
 */
export class LiveFileReads {
  private handle: FileHandle | null = null;
  private cache: PageCacheCalls | null = null;
  private buffer: Uint8Array | null = null;
  private window: MappedWindow | null | undefined;
  private closed = false;
  /** the file's pages before this are dropped from the page cache */
  private dropped = 0;

  /**
   * Bytes from `from` on, up to `to`, valid until the next read or close; the file's pages before `readByAll` are
   * read by every reader. `to` is a size the live log reported (LiveLogs.live): the file holds it and is never
   * cut below it, so no mapped page lies past the file's end.
   */
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
    const end = Math.min(to, from + READ_BYTES);
    if (this.window === undefined) this.window = MappedWindow.open(READ_BYTES);
    const bytes = this.window?.map(this.handle.fd, from, end) ?? (await this.readInto(this.handle, from, end));
    const behind = readByAll - (readByAll % SEGMENT);
    if (behind > this.dropped) {
      this.cache?.drop(this.dropped, behind - this.dropped);
      this.dropped = behind;
    }
    return bytes;
  }

  private async readInto(handle: FileHandle, from: number, end: number): Promise<Uint8Array> {
    this.buffer ??= new Uint8Array(READ_BYTES);
    const { bytesRead } = await handle.read(this.buffer, 0, end - from, from);
    return this.buffer.subarray(0, bytesRead);
  }

  /** For good: the reader has moved on to the stored object, or stopped; what the others have read is dropped (all when none reads it). */
  close(readByAll: number): void {
    this.closed = true;
    this.window?.close();
    this.window = null;
    if (this.handle && readByAll > this.dropped) {
      this.cache?.drop(this.dropped, readByAll === Number.POSITIVE_INFINITY ? 0 : readByAll - this.dropped);
    }
    this.cache?.close();
    this.cache = null;
    void this.handle?.close();
    this.handle = null;
  }
}
