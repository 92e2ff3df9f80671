import type { ServerWebSocket } from "bun";
import type { Cluster } from "../helpers/cluster.ts";
import { waitFor } from "../helpers/processes.ts";
import { bullmqLatencies } from "./bullmq.ts";
import { type Benchmark, percentile, round, runToEnd, startPeer, stopPeer, target, withCluster } from "./lib.ts";

/** Drover and BullMQ alike: 2,000 timed dispatches, 200 per chain (a run holds at most 1,000 tasks). */
const SAMPLES = 2000;
const CHAIN = 200;
// Both sides get the same few untimed rounds first, so p99 measures steady state rather than JIT warm-up.
const WARMUP = 10;

/**
 * A run whose tasks form one chain: each task becomes ready as its parent ends, and never waits behind another. Each
 * step prints the moment its command runs (bash's `$EPOCHREALTIME`, no process started for it).
 */
function chain(n: number): string {
  const tasks = Array.from(
    { length: n },
    (_, i) => `  t${i}:\n${i ? `    depends: [t${i - 1}]\n` : ""}    steps: [ { run: echo $EPOCHREALTIME } ]`,
  );
  return `tasks:\n${tasks.join("\n")}\n`;
}

/**
 * How far the coordinator's stamps may lie from the step's reading of the same clock: they carry the monotonic clock's
 * fraction within the wall clock's millisecond (preciseNow), which was measured up to half a millisecond behind the
 * realtime clock bash reads. With the first byte stored within that of the command running, an exact check failed.
 */
const CLOCKS_AGREE_MS = 1;

interface DispatchView {
  tasks: { name: string; attempts: { readyAt: number; steps: { firstByteAt: number | null }[] }[] }[];
}

/** Per task, in ms from its `readyAt`: its step's command running (as BullMQ's add → process), and its first log byte stored. */
export interface DispatchTimes {
  running: number[];
  firstByte: number[];
}

/**
 * Task ready → its step's command running on the agent (the step's own clock reading, printed as its log) and → that
 * first log byte stored, as the coordinator recorded it, for each task of chains of up to 200 tasks (`samples` in
 * all), after a warm-up chain; the cluster's agent runs them. Coordinator and step read the same machine's clock.
 */
export async function chainDispatchTimes(cluster: Cluster, samples: number): Promise<DispatchTimes> {
  await runToEnd(cluster, chain(WARMUP), 600_000);
  const times: DispatchTimes = { running: [], firstByte: [] };
  for (let n = 0; n < samples; n += CHAIN) {
    const id = await runToEnd(cluster, chain(Math.min(CHAIN, samples - n)), 1_800_000);
    const { body } = await cluster.api<DispatchView>("GET", `/api/v1/runs/${id}`);
    for (const t of body.tasks) {
      const attempt = t.attempts[0]!;
      const firstByteAt = attempt.steps[0]?.firstByteAt;
      if (firstByteAt == null) throw new Error(`task ${t.name} stored no log byte`);
      const printed = (await cluster.log(id, t.name, 0)).trim();
      const runningAt = Number(printed) * 1000;
      if (!/^\d+\.\d+$/.test(printed) || runningAt < attempt.readyAt - CLOCKS_AGREE_MS || runningAt > firstByteAt + CLOCKS_AGREE_MS)
        throw new Error(
          `task ${t.name}: its step printed ${JSON.stringify(printed)}, not a time between ready (${attempt.readyAt}) and its first byte stored (${firstByteAt})`,
        );
      times.running.push(runningAt - attempt.readyAt);
      times.firstByte.push(firstByteAt - attempt.readyAt);
    }
  }
  return times;
}

/** The same path without Drover: a loopback WebSocket round trip to another process that spawns bash and returns its first byte. */
async function raw(): Promise<number[]> {
  let socket: ServerWebSocket<undefined> | undefined;
  let replied = () => {};
  const server = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    fetch: (req, srv) => (srv.upgrade(req) ? undefined : new Response("expected a WebSocket", { status: 400 })),
    websocket: {
      open: (ws) => {
        socket = ws;
      },
      message: () => replied(),
    },
  });
  const peer = startPeer([`ws://127.0.0.1:${server.port}`, "spawn"]);
  try {
    const ws = await waitFor("the baseline peer to connect", () => socket, 10_000);
    const times: number[] = [];
    for (let i = 0; i < WARMUP + SAMPLES; i++) {
      const reply = new Promise<void>((resolve) => {
        replied = resolve;
      });
      const start = performance.now();
      ws.send("go");
      await Promise.race([reply, peer.died]);
      if (i >= WARMUP) times.push(performance.now() - start);
    }
    return times;
  } finally {
    stopPeer(peer);
    await server.stop(true);
  }
}

/**
 * Drover against BullMQ's add → process (the baseline, as issue 19 asks), and against the bare floor of the
 * same path: a WebSocket round trip with a bash spawned on the far side (`dispatch_raw_*`).
 */
export const dispatch: Benchmark = {
  name: "dispatch",
  rounds: 3,
  async run() {
    const bullmq = await bullmqLatencies(SAMPLES, WARMUP);
    const bare = await raw();
    const measured = await withCluster({ agentFlags: ["--capacity", "1"] }, (cluster) => chainDispatchTimes(cluster, SAMPLES));
    const ms = (values: number[], p: number) => round(percentile(values, p), 3);
    const figure = (p: number, limit: number) => {
      const value = ms(measured.running, p);
      const base = ms(bullmq, p);
      return { value, unit: "ms", baseline: base, ratio: round(value / base), target: target(`≤ ${limit} ms`, value <= limit) };
    };
    return {
      dispatch_p50_ms: figure(50, 2),
      dispatch_p99_ms: figure(99, 10),
      bullmq_dispatch_p50_ms: { value: ms(bullmq, 50), unit: "ms", target: "(BullMQ add → process, Redis without persistence)" },
      bullmq_dispatch_p99_ms: { value: ms(bullmq, 99), unit: "ms" },
      dispatch_first_byte_p50_ms: { value: ms(measured.firstByte, 50), unit: "ms", target: "(task ready → its first log byte stored: the round trip)" },
      dispatch_first_byte_p99_ms: { value: ms(measured.firstByte, 99), unit: "ms" },
      dispatch_raw_p50_ms: { value: ms(bare, 50), unit: "ms", target: "(WebSocket round trip + bash spawn)" },
      dispatch_raw_p99_ms: { value: ms(bare, 99), unit: "ms" },
    };
  },
};
