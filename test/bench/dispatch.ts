import type { ServerWebSocket } from "bun";
import { waitFor } from "../helpers/processes.ts";
import { type Benchmark, percentile, round, runToEnd, startPeer, stopPeer, target, withCluster } from "./lib.ts";

const SAMPLES = 200;
// Both sides get the same few untimed rounds first, so p99 measures steady state rather than JIT warm-up.
const WARMUP = 10;

/** A run whose tasks form one chain: each task becomes ready as its parent ends, and never waits behind another. */
function chain(n: number): string {
  const tasks = Array.from({ length: n }, (_, i) => `  t${i}:\n${i ? `    depends: [t${i - 1}]\n` : ""}    steps: [ { run: echo x } ]`);
  return `tasks:\n${tasks.join("\n")}\n`;
}

interface DispatchView {
  tasks: { name: string; attempts: { readyAt: number; steps: { firstByteAt: number | null }[] }[] }[];
}

/** Task ready → first log byte stored, as the coordinator recorded it, for each task of a 200-task chain. */
async function viaCoordinator(): Promise<number[]> {
  return withCluster({ agentFlags: ["--capacity", "1"] }, async (cluster) => {
    await runToEnd(cluster, chain(WARMUP), 60_000);
    const id = await runToEnd(cluster, chain(SAMPLES), 300_000);
    const { body } = await cluster.api<DispatchView>("GET", `/api/v1/runs/${id}`);
    return body.tasks.map((t) => {
      const attempt = t.attempts[0]!;
      const firstByteAt = attempt.steps[0]?.firstByteAt;
      if (firstByteAt == null) throw new Error(`task ${t.name} stored no log byte`);
      return firstByteAt - attempt.readyAt;
    });
  });
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

export const dispatch: Benchmark = {
  name: "dispatch",
  async run() {
    const baseline = await raw();
    const measured = await viaCoordinator();
    const figure = (p: number, limit: number) => {
      const value = percentile(measured, p);
      const base = percentile(baseline, p);
      return { value: round(value), unit: "ms", baseline: round(base), ratio: round(value / base), target: target(`≤ ${limit} ms`, value <= limit) };
    };
    return { dispatch_p50_ms: figure(50, 5), dispatch_p99_ms: figure(99, 25) };
  },
};
