import { readFileSync } from "node:fs";
import { join } from "node:path";
import type { Subprocess } from "bun";
import { type Cluster, startCluster } from "../helpers/cluster.ts";
import { captureOutput, killGroup, spawnTracked, waitFor } from "../helpers/processes.ts";

export interface Figure {
  value: number;
  unit: string;
  baseline?: number;
  ratio?: number;
  /** printed in the table only; results.json keeps the measured numbers */
  target?: string;
}

export interface Benchmark {
  name: string;
  run(): Promise<Record<string, Figure>>;
}

export const MiB = 1024 * 1024;

/** Nearest-rank percentile, so p99 of 200 samples is an observed value, not an interpolation. */
export function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.max(0, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

/** A coordinator and one agent as real subprocesses, always stopped, whatever `fn` does. */
export async function withCluster<T>(
  opts: { env?: Record<string, string>; agentFlags?: string[] },
  fn: (cluster: Cluster) => Promise<T>,
): Promise<T> {
  const cluster = await startCluster(opts.env);
  try {
    await cluster.startAgent("bench", opts.agentFlags);
    return await fn(cluster);
  } finally {
    await cluster.stop();
  }
}

interface RunSummary {
  id: string;
  phase: string;
  result: string;
}

/**
 * Submits a pipeline under a group of its own and waits for the run to end.
 * It polls the run list (a one-row summary), not the full run view, so that
 * the waiting adds next to nothing to what the coordinator is measured doing.
 */
export async function runToEnd(cluster: Cluster, pipeline: string, timeoutMs: number): Promise<string> {
  const group = `bench-${crypto.randomUUID()}`;
  const id = await cluster.submit(pipeline, group);
  const run = await waitFor(
    `run ${id} to end`,
    async () => {
      const { body } = await cluster.api<{ runs: RunSummary[] }>("GET", `/api/v1/runs?group=${group}&limit=1`);
      const found = body.runs[0];
      return found && ["finished", "cancelled", "setuperror"].includes(found.phase) ? found : undefined;
    },
    timeoutMs,
  );
  if (run.result !== "success") throw new Error(`bench run ${id} ended ${run.phase}/${run.result}:\n${cluster.coordinator.output()}`);
  return id;
}

export interface Peer {
  proc: Subprocess;
  /** rejects, with the peer's stderr, if the peer exits first: race it against every wait on the peer */
  died: Promise<never>;
}

/** Starts `ws-peer.ts`, the far end of a raw loopback WebSocket, as its own process like an agent. */
export function startPeer(args: string[]): Peer {
  const proc = spawnTracked(["bun", join(import.meta.dir, "ws-peer.ts"), ...args]);
  const err = captureOutput(proc.stderr);
  const died = proc.exited.then((code): never => {
    throw new Error(`the baseline peer exited with ${code}: ${err.text()}`);
  });
  // Stopping the peer at the end rejects `died` too, with nobody waiting any more.
  died.catch(() => {});
  return { proc, died };
}

export function stopPeer(peer: Peer): void {
  killGroup(peer.proc);
}

function rssMiB(pid: number): number {
  const kb = readFileSync(`/proc/${pid}/status`, "utf8").match(/^VmRSS:\s+(\d+) kB/m)?.[1];
  return kb ? Number(kb) / 1024 : 0;
}

/** Samples a process's resident set every `everyMs`; `stop()` returns the peak in MiB. */
export function sampleRss(pid: number, everyMs = 20): { stop(): number } {
  let peak = rssMiB(pid);
  const timer = setInterval(() => {
    try {
      peak = Math.max(peak, rssMiB(pid));
    } catch {
      // the process is gone; keep the peak seen so far
    }
  }, everyMs);
  return {
    stop() {
      clearInterval(timer);
      return peak;
    },
  };
}

export const round = (n: number, digits = 2) => Number(n.toFixed(digits));

export const target = (text: string, met: boolean) => `${text} (${met ? "met" : "missed"})`;
