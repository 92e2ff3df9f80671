import { closeSync, mkdtempSync, openSync, rmSync, writeSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { MiB, percentile, startPeer, stopPeer } from "./lib.ts";

/** What the log benchmarks stream: one step writing 256 MiB. */
export const LOG_BYTES = 256 * MiB;
// One 256 MiB transfer lasts well under a second here, and the same one costs up to twice the CPU from one
// moment to the next on this VM; both sides report the median of several.
export const REPEATS = 5;
/** The default log cap (100 MiB) would drop most of the stream instead of storing it. */
export const LOG_ENV = { DROVER_MAX_LOG_BYTES: String(2 * LOG_BYTES) };
// dd writes 1 MiB blocks: the producer itself runs at about 1.2 GB/s here, while `head | tr` managed about
// 550 MB/s, below half the raw WebSocket figure, which would have capped the ratio below the target by itself
export const LOG_PIPELINE = `tasks:\n  log:\n    steps:\n      - run: dd if=/dev/zero bs=1M count=${LOG_BYTES / MiB} status=none\n`;

export interface LogView {
  endedAt: number;
  tasks: { attempts: { steps: { startedAt: number; logSize: number | null }[] }[] }[];
}

/** The same bytes over a bare loopback WebSocket from another process, written to a file as they arrive (MiB/s). */
export async function rawOnce(): Promise<number> {
  const dir = mkdtempSync(join(tmpdir(), "drover-bench-"));
  const fd = openSync(join(dir, "sink"), "w");
  let received = 0;
  let start = 0;
  let finish = (_ms: number) => {};
  const finished = new Promise<number>((resolve) => {
    finish = resolve;
  });
  const server = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    fetch: (req, srv) => (srv.upgrade(req) ? undefined : new Response("expected a WebSocket", { status: 400 })),
    websocket: {
      maxPayloadLength: 2 * MiB,
      open: () => {
        start = performance.now();
      },
      message: (ws, message) => {
        const bytes = typeof message === "string" ? Buffer.from(message) : message;
        writeSync(fd, bytes);
        received += bytes.length;
        if (received < LOG_BYTES) return;
        finish(performance.now() - start);
        ws.close();
      },
    },
  });
  const peer = startPeer([`ws://127.0.0.1:${server.port}`, "send", String(LOG_BYTES)]);
  try {
    const ms = await Promise.race([finished, peer.died]);
    return LOG_BYTES / MiB / (ms / 1000);
  } finally {
    stopPeer(peer);
    await server.stop(true);
    closeSync(fd);
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * Each repeat does one raw WebSocket transfer and one of Drover's (`measure`, MiB/s), back to back, so that
 * both meet the same state of the machine (others' load comes and goes by the second); medians. One of each
 * goes first unmeasured, so that neither side is timed while its code is still being compiled.
 */
export async function sideBySide(measure: () => Promise<number>): Promise<{ value: number; baseline: number; rates: number[]; raw: number[] }> {
  const raw: number[] = [];
  const rates: number[] = [];
  await rawOnce();
  await measure();
  for (let i = 0; i < REPEATS; i++) {
    raw.push(await rawOnce());
    rates.push(await measure());
  }
  return { value: percentile(rates, 50), baseline: percentile(raw, 50), rates, raw };
}
