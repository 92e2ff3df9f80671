import { closeSync, fstatSync, openSync, read } from "node:fs";
import { dropCached, readingSequentially, SEGMENT } from "./drop-behind.ts";

/** Bytes read at a time; two buffers take turns. */
const READ_BLOCK = 1024 * 1024;

const readAt = (fd: number, into: Uint8Array, position: number) =>
  new Promise<number>((resolve, reject) => read(fd, into, 0, into.length, position, (err, n) => (err ? reject(err) : resolve(n))));

/**
 * An object's file as a response body, dropped from the page cache behind the reader (see
 * drop-behind.ts for why). Read a block ahead into two buffers that take turns: the response
 * copies what it is given, and a write it has not taken yet is waited for before going on.
 */
export function uncachedStream(path: string): ReadableStream<Uint8Array> {
  let cancelled = false;
  let onCancel = () => {};
  // a client gone mid-download may leave the write it had not taken pending for good
  const gone = new Promise<void>((resolve) => {
    onCancel = resolve;
  });
  const source: Bun.DirectUnderlyingSource<Uint8Array> = {
    type: "direct",
    async pull(controller) {
      const fd = openSync(path, "r");
      // a read still on its way when the loop stops ends before the descriptor is closed
      let next: Promise<number> | null = null;
      try {
        const size = fstatSync(fd).size;
        readingSequentially(fd);
        const blocks = [new Uint8Array(READ_BLOCK), new Uint8Array(READ_BLOCK)];
        let position = 0;
        let dropped = 0;
        if (size > 0) next = readAt(fd, blocks[0]!, 0);
        for (let turn = 0; next && !cancelled; turn ^= 1) {
          const n = await next;
          next = null;
          if (n === 0) break;
          position += n;
          const taken = controller.write(blocks[turn]!.subarray(0, n));
          if (taken instanceof Promise) await Promise.race([taken, gone]);
          if (position < size) next = readAt(fd, blocks[turn ^ 1]!, position);
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
