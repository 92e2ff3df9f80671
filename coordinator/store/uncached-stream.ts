import { closeSync, fstatSync, openSync, read } from "node:fs";
import { dropCached, readingSequentially, SEGMENT } from "./drop-behind.ts";

/** Bytes read at a time; two buffers take turns. */
const READ_BLOCK = 1024 * 1024;

const readAt = (fd: number, into: Uint8Array, position: number) =>
  new Promise<number>((resolve, reject) => read(fd, into, 0, into.length, position, (err, n) => (err ? reject(err) : resolve(n))));

/** A file still being written: how far it may be read. */
export interface Growing {
  /**
   * Resolves once the file holds enough past `position` to be worth a read, with its size then, or with
   * `position` once it is complete at that size; rejects when its writer failed (the response then breaks
   * off, never ends cleanly).
   */
  beyond(position: number): Promise<number>;
  /** everything before `position` is read (and dropped from the page cache) */
  read(position: number): void;
  /** the reader is done, its descriptor closed */
  end(): void;
}

/**
 * An object's file as a response body, dropped from the page cache behind the reader (see
 * drop-behind.ts for why). Read a block ahead into two buffers that take turns: the response
 * copies what it is given, and a write it has not taken yet is waited for before going on.
 */
export function uncachedStream(path: string): ReadableStream<Uint8Array> {
  return readBehind(() => openSync(path, "r"), null);
}

/**
 * A file being written, followed as a response body from the open descriptor `fd` (which it closes), the
 * same way: the body ends once `growing` says the file is complete.
 */
export function followedStream(fd: number, growing: Growing): ReadableStream<Uint8Array> {
  return readBehind(() => fd, growing);
}

function readBehind(open: () => number, growing: Growing | null): ReadableStream<Uint8Array> {
  let cancelled = false;
  let onCancel = () => {};
  // a client gone mid-download may leave the write it had not taken pending for good
  const gone = new Promise<void>((resolve) => {
    onCancel = resolve;
  });
  const source: Bun.DirectUnderlyingSource<Uint8Array> = {
    type: "direct",
    async pull(controller) {
      const fd = open();
      // a read still on its way when the loop stops ends before the descriptor is closed
      let next: Promise<number> | undefined;
      try {
        let size = fstatSync(fd).size;
        readingSequentially(fd);
        const blocks = [new Uint8Array(READ_BLOCK), new Uint8Array(READ_BLOCK)];
        let position = 0;
        let dropped = 0;
        /** the next block, once the file holds more than `position` (0: it ends there) */
        const readNext = async (into: Uint8Array) => {
          if (position >= size && growing) size = await Promise.race([growing.beyond(position), gone.then(() => position)]);
          return position < size ? readAt(fd, into, position) : 0;
        };
        next = readNext(blocks[0]!);
        for (let turn = 0; !cancelled; turn ^= 1) {
          const n = await next;
          next = undefined;
          if (n === 0) break;
          position += n;
          growing?.read(position);
          const taken = controller.write(blocks[turn]!.subarray(0, n));
          if (taken instanceof Promise) await Promise.race([taken, gone]);
          next = readNext(blocks[turn ^ 1]!);
          if (position - dropped >= SEGMENT) {
            dropCached(fd, dropped, position - dropped);
            dropped = position;
          }
        }
        controller.flush();
        dropCached(fd, dropped, 0);
        if (!cancelled) controller.close();
      } finally {
        await next?.catch(() => {});
        closeSync(fd);
        growing?.end();
      }
    },
    cancel() {
      cancelled = true;
      onCancel();
    },
  };
  // the DOM typings, which the project includes, do not know Bun's direct streams
  return new ReadableStream<Uint8Array>(source as unknown as UnderlyingDefaultSource<Uint8Array>);
}
