import { readFileSync } from "node:fs";
import { join } from "node:path";
import type { Subprocess } from "bun";
import { AGENT_TOKEN, type Cluster, type Coordinator, END_PHASES, type RunSummary, startCluster } from "../helpers/cluster.ts";
import { captureOutput, killGroup, spawnTracked, waitFor } from "../helpers/processes.ts";

export interface Figure {
  value: number;
  unit: string;
  baseline?: number;
  ratio?: number;
  /** each round's value, in the order run, when the figure was measured in more than one (`value` is the best) */
  rounds?: number[];
  /** printed in the table only; results.json keeps the measured numbers */
  target?: string;
}

export interface Benchmark {
  name: string;
  /** how many of the run's rounds it takes part in (default 1: the slow ones, whose figures are medians already) */
  rounds?: number;
  /** runs only when named (`bun run bench scale`), never in the full run */
  onlyByName?: boolean;
  /** results.json keeps its figures under this key instead of at the top level */
  section?: string;
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
  fn: (cluster: Cluster, agent: Subprocess) => Promise<T>,
): Promise<T> {
  const cluster = await startCluster(opts.env);
  try {
    const agent = await cluster.startAgent("bench", opts.agentFlags);
    return await fn(cluster, agent.proc);
  } finally {
    await cluster.stop();
  }
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
      return found && END_PHASES.includes(found.phase) ? found : undefined;
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

/**
 * CPU time (user + system, ms) a process has used so far; with `children`, also that of the children it has
 * waited for (an agent's steps). Ticks of 10 ms: meant for spans of hundreds of ms.
 */
export function cpuMs(pid: number, children = false): number {
  // the fields after the command name, which is in parentheses and may hold spaces and parentheses: utime, stime,
  // cutime, cstime are the 12th to 15th of them, in clock ticks (USER_HZ, 100 on Linux)
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ").map(Number);
  return (f[11]! + f[12]! + (children ? f[13]! + f[14]! : 0)) * 10;
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

/** Resident set of a process now, in MiB (0 if it is gone). */
export function rssNow(pid: number): number {
  try {
    return rssMiB(pid);
  } catch {
    return 0;
  }
}

/**
 * CPU seconds of each of `pids`, sampled every `everyMs` until stopped; `between` gives what each used
 * from one wall-clock time (ms since the epoch, as steps report them) to another, to the nearest sample.
 */
export function sampleCpu(pids: number[], everyMs = 20): { stop(): void; between(from: number, to: number): number[] } {
  const samples: { at: number; cpu: number[] }[] = [];
  const take = () => {
    try {
      samples.push({ at: Date.now(), cpu: pids.map(cpuSeconds) });
    } catch {
      // a process is gone; the samples so far stand
    }
  };
  take();
  const timer = setInterval(take, everyMs);
  const nearest = (t: number) => samples.reduce((best, s) => (Math.abs(s.at - t) < Math.abs(best.at - t) ? s : best));
  return {
    stop: () => {
      clearInterval(timer);
      take();
    },
    between: (from, to) => {
      const [a, b] = [nearest(from), nearest(to)];
      return pids.map((_, i) => b.cpu[i]! - a.cpu[i]!);
    },
  };
}

/** CPU time (user + system) a process has used so far, in seconds. */
export const cpuSeconds = (pid: number): number => cpuMs(pid) / 1000;

/**
 * Coordinator settings for the benchmarks that are about the coordinator alone: no garbage
 * collector or cleanup pass (every 10 min by default) wandering into the measured window.
 */
export const QUIET_ENV = { DROVER_GC_INTERVAL_MS: String(3_600_000) };

export interface SimAgents {
  stop(): void;
}

/**
 * `count` simulated agents (test/helpers/sim-agents.ts) in one process of their own, once all are registered; with
 * several coordinators (the nodes of a cluster), split evenly over them.
 */
export async function startSimAgents(coordinators: Coordinator[], count: number, capacity: number, prefix = "sim"): Promise<SimAgents> {
  const proc = spawnTracked([
    "bun",
    join(import.meta.dir, "../helpers/sim-agents.ts"),
    ...["--coordinator", coordinators.map((c) => c.url).join(","), "--token", AGENT_TOKEN],
    ...["--count", String(count), "--capacity", String(capacity), "--prefix", prefix],
  ]);
  const out = captureOutput(proc.stdout);
  const err = captureOutput(proc.stderr);
  const sims: SimAgents = { stop: () => killGroup(proc) };
  try {
    const state = await waitFor(
      `${count} simulated agents to register`,
      () => (proc.exitCode !== null ? "exited" : out.text().includes(`ready ${count}`) && "ready"),
      120_000,
    );
    if (state === "exited") throw new Error(`sim-agents exited with ${proc.exitCode}: ${err.text()}`);
  } catch (e) {
    sims.stop();
    throw e;
  }
  return sims;
}

/** `tasks` independent one-step tasks that do nothing. */
export function widePipeline(tasks: number): string {
  return `tasks:\n${Array.from({ length: tasks }, (_, i) => `  t${i}:\n    steps: [ { run: 'true' } ]\n`).join("")}`;
}
