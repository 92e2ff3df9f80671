/**
 * Responsive under load (issue 19, point 4): 10,000 runs of three tasks submitted 20 at a time to
 * 200 simulated agents, while the run list is asked for again and again. `BENCH_LOAD_RUNS` sets
 * the run count for a quick try; the full run uses 10,000.
 */
import { type Cluster, END_PHASES, type RunSummary, startCluster } from "../helpers/cluster.ts";
import { waitFor } from "../helpers/processes.ts";
import { type Benchmark, cpuSeconds, percentile, QUIET_ENV, round, rssNow, sampleRss, startSimAgents, target } from "./lib.ts";

const RUNS = Number(process.env.BENCH_LOAD_RUNS ?? 10_000);
const IN_FLIGHT = 20;
const AGENTS = 200;
const OPEN_RUNS = 2000;
const LIST = "/api/v1/runs?limit=50";

/** Three tasks, two of them waiting on the first: a build, then its tests and a lint. */
const THREE = "tasks:\n  build:\n    steps: [ { run: 'true' } ]\n  test:\n    depends: [build]\n    steps: [ { run: 'true' } ]\n  lint:\n    depends: [build]\n    steps: [ { run: 'true' } ]\n";
/** The same three tasks, the first holding its agent's slot until the end: the run stays open, its first task running. */
const HELD = THREE.replace("steps: [ { run: 'true' } ]", "steps: [ { run: hold } ]");

async function timedList(cluster: Cluster): Promise<number> {
  const t0 = performance.now();
  const { status } = await cluster.api("GET", LIST);
  if (status !== 200) throw new Error(`GET ${LIST} answered ${status}`);
  return performance.now() - t0;
}

/** Submits `runs` runs of `pipeline`, `IN_FLIGHT` requests at a time; resolves with the runs accepted per second. */
async function submitAll(cluster: Cluster, pipeline: string, runs: number, group: string): Promise<number> {
  let next = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: IN_FLIGHT }, async () => {
      while (next < runs) {
        next++;
        await cluster.submit(pipeline, group);
      }
    }),
  );
  return runs / ((performance.now() - t0) / 1000);
}

/** Asks for the run list one request after another until `until` settles; the latencies in ms. */
async function listWhile(cluster: Cluster, until: Promise<unknown>): Promise<number[]> {
  let done = false;
  void until.finally(() => {
    done = true;
  });
  const times: number[] = [];
  while (!done) {
    times.push(await timedList(cluster));
    await Bun.sleep(10);
  }
  return times;
}

async function allEnded(cluster: Cluster, group: string, runs: number): Promise<void> {
  await waitFor(
    `${runs} runs to end`,
    async () => {
      const { body } = await cluster.api<{ runs: RunSummary[] }>("GET", `/api/v1/runs?group=${group}&limit=1`);
      // runs are listed newest first, so the last submitted is the first row, and the earlier ones went before it
      return body.runs[0] && END_PHASES.includes(body.runs[0].phase);
    },
    600_000,
    500,
  );
}

async function underLoad() {
  const cluster = await startCluster(QUIET_ENV);
  try {
    const sims = await startSimAgents([cluster.coordinator], AGENTS, 1, "load");
    try {
      const pid = cluster.coordinator.proc.pid;
      await submitAll(cluster, THREE, 100, "bench-warmup"); // JIT and statement caches
      await allEnded(cluster, "bench-warmup", 100);
      const rss = sampleRss(pid, 100);
      const cpu0 = cpuSeconds(pid);
      const t0 = performance.now();
      const submitting = submitAll(cluster, THREE, RUNS, "bench-load");
      const [rate, times] = await Promise.all([submitting, listWhile(cluster, submitting)]);
      const cpu = ((cpuSeconds(pid) - cpu0) / ((performance.now() - t0) / 1000)) * 100;
      console.error(`load: ${RUNS} runs submitted in ${round((performance.now() - t0) / 1000, 1)} s`);
      await allEnded(cluster, "bench-load", RUNS);
      console.error(`load: all ended after ${round((performance.now() - t0) / 1000, 1)} s`);
      const peak = rss.stop();
      const idle: number[] = [];
      for (let i = 0; i < 200; i++) idle.push(await timedList(cluster));
      return { rate, times, idle, cpu, peak };
    } finally {
      sims.stop();
    }
  } finally {
    await cluster.stop();
  }
}

/**
 * A fresh coordinator's resident set with 200 agents connected, then with `OPEN_RUNS` runs of three tasks
 * open, each with its first task running (200 agents × 10 slots hold them all).
 */
async function openRuns() {
  const cluster = await startCluster(QUIET_ENV);
  try {
    const sims = await startSimAgents([cluster.coordinator], AGENTS, OPEN_RUNS / AGENTS, "open");
    try {
      const pid = cluster.coordinator.proc.pid;
      await Bun.sleep(1000);
      const before = rssNow(pid);
      await submitAll(cluster, HELD, OPEN_RUNS, "bench-open");
      const queued = async () => (await cluster.api<{ queued: number }>("GET", "/api/v1/queue")).body.queued;
      await waitFor(`the ${OPEN_RUNS} first tasks placed`, async () => (await queued()) === 0, 120_000, 200);
      await Bun.sleep(2000); // the submits' garbage collected, as a coordinator holding these runs for a while would
      for (const phase of END_PHASES) {
        const { body } = await cluster.api<{ runs: RunSummary[] }>("GET", `/api/v1/runs?group=bench-open&phase=${phase}&limit=1`);
        if (body.runs.length) throw new Error(`run ${body.runs[0]!.id} ended (${phase}); all ${OPEN_RUNS} were to stay open`);
      }
      return { before, after: rssNow(pid) };
    } finally {
      sims.stop();
    }
  } finally {
    await cluster.stop();
  }
}

export const load: Benchmark = {
  name: "load",
  async run() {
    const { rate, times, idle, cpu, peak } = await underLoad();
    const { before, after } = await openRuns();
    const [p50, p99, idle99] = [percentile(times, 50), percentile(times, 99), percentile(idle, 99)];
    console.error(`load: ${times.length} lists while submitting ${RUNS} runs; idle p50 ${round(percentile(idle, 50))} ms`);
    return {
      api_p99_under_load_ms: { value: round(p99), unit: "ms", baseline: round(idle99), ratio: round(p99 / idle99), target: target("≤ 50 ms", p99 <= 50) },
      api_p50_under_load_ms: { value: round(p50), unit: "ms", target: `(GET ${LIST}; idle p99 as the baseline above)` },
      submit_runs_per_s: { value: round(rate, 1), unit: "runs/s", target: target("≥ 500 runs/s", rate >= 500) },
      load_coordinator_cpu_pct: { value: round(cpu, 1), unit: "% of a core", target: "(while submitting)" },
      load_rss_peak_mb: { value: round(peak, 1), unit: "MiB", target: `(${RUNS} runs through, peak)` },
      open_runs_rss_mb: { value: round(after, 1), unit: "MiB", baseline: round(before, 1), ratio: round(after / before), target: target("≤ 200 MiB", after <= 200) },
    };
  },
};
