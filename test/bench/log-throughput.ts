import { closeSync, mkdtempSync, openSync, rmSync, writeSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type Benchmark, MiB, percentile, round, runToEnd, sampleRss, startPeer, stopPeer, target, withCluster } from "./lib.ts";

const LOG_BYTES = 256 * MiB;
// One 256 MiB transfer lasts well under a second here, so a single one swings with whatever else the machine
// does; both sides report the median of a few.
const REPEATS = 3;

interface LogView {
  endedAt: number;
  tasks: { attempts: { steps: { startedAt: number; logSize: number | null }[] }[] }[];
}

/** One step writing 256 MiB, from the step's start on the agent to the run's end (log stored as an object). */
async function viaCoordinator(): Promise<{ rates: number[]; peakRss: number }> {
  // The default log cap (100 MiB) would drop most of the stream instead of storing it.
  const env = { DROVER_MAX_LOG_BYTES: String(2 * LOG_BYTES) };
  return withCluster({ env, agentFlags: ["--capacity", "1"] }, async (cluster) => {
    // `bun cli/main.ts serve` runs the server in that very process (no child), so its pid is the one to sample.
    const rss = sampleRss(cluster.coordinator.proc.pid);
    const pipeline = `tasks:\n  log:\n    steps:\n      - run: head -c ${LOG_BYTES} /dev/zero | tr '\\0' 'a'\n`;
    const rates: number[] = [];
    let peakRss = 0;
    try {
      for (let i = 0; i < REPEATS; i++) {
        const id = await runToEnd(cluster, pipeline, 300_000);
        const { body } = await cluster.api<LogView>("GET", `/api/v1/runs/${id}`);
        const step = body.tasks[0]!.attempts[0]!.steps[0]!;
        if (step.logSize !== LOG_BYTES) throw new Error(`stored ${step.logSize} log bytes, expected ${LOG_BYTES}`);
        rates.push(LOG_BYTES / MiB / ((body.endedAt - step.startedAt) / 1000));
      }
    } finally {
      peakRss = rss.stop();
    }
    return { rates, peakRss };
  });
}

/** The same bytes over a bare loopback WebSocket from another process, written to a file as they arrive. */
async function raw(): Promise<number> {
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

export const log: Benchmark = {
  name: "log",
  async run() {
    const baselines: number[] = [];
    for (let i = 0; i < REPEATS; i++) baselines.push(await raw());
    const baseline = percentile(baselines, 50);
    const { rates, peakRss } = await viaCoordinator();
    const value = percentile(rates, 50);
    const ratio = value / baseline;
    return {
      log_mb_s: { value: round(value, 1), unit: "MiB/s", baseline: round(baseline, 1), ratio: round(ratio), target: target("≥ 50% of raw WS", ratio >= 0.5) },
      coordinator_rss_mb: { value: round(peakRss, 1), unit: "MiB", target: target("≤ 200 MiB", peakRss <= 200) },
    };
  },
};
