/**
 * A Worker's body: makes the page-cache calls of the coordinator's large files off its event loop
 * (page-cache-calls.ts). Each file comes as a descriptor of its own, a duplicate closed here after its
 * last call, so no call lands on a file that reused the caller's number.
 */
import { closeSync } from "node:fs";
import { directCalls } from "./page-cache-calls.ts";

/** Start the writeback of [from, from + length) or drop its clean pages (length 0: to the end), or close the descriptor. */
export type PageCacheCall =
  | { fd: number; call: "writeBack" | "drop"; from: number; length: number }
  | { fd: number; call: "close" };

declare const self: Worker;

self.onmessage = ({ data }: MessageEvent<PageCacheCall>) => {
  if (data.call === "close") closeSync(data.fd);
  else directCalls(data.fd)?.[data.call](data.from, data.length);
};
