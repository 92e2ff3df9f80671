import { closeSync, fstatSync, openSync } from "node:fs";

/** How often the file's size is looked at while a body is written into it: acks and followers lag it by this at most. */
const LOOK_EVERY_MS = 5;

/**
 * Appends a request body to a file with no JavaScript per chunk: Bun writes the body into the file
 * natively, and the file's size, looked at every few ms, says how far it got (a followed 256 MiB step cost
 * the coordinator 690-1,030 ms of CPU in WebSocket frames, 370-640 ms this way). The write has an
 * append-mode fd of its own, closed only once the write settled, so no byte lands in a file that reused
 * the fd's number. Resolves with the file's size once the whole body is written; `grew` hears of every size
 * reached first, also when the write fails.
 */
export async function appendBody(path: string, body: ReadableStream<Uint8Array>, grew: (size: number) => void): Promise<number> {
  const fd = openSync(path, "a");
  let size = fstatSync(fd).size;
  const look = () => {
    const now = fstatSync(fd).size;
    if (now <= size) return;
    size = now;
    grew(size);
  };
  const timer = setInterval(look, LOOK_EVERY_MS);
  try {
    await Bun.write(Bun.file(fd), new Response(body));
  } finally {
    clearInterval(timer);
    try {
      look();
    } finally {
      closeSync(fd);
    }
  }
  return size;
}
