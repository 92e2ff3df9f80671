/**
 * `bun run bench scale` (issue 19, point 3): how cost grows with the work. Dispatch p50 and the coordinator's
 * RSS with 1,000 / 10,000 / 100,000 tasks queued, tasks/s with 10 / 100 / 1,000 simulated agents, history query
 * p50 over 1 M and 10 M attempts, log ingest with 1 / 10 / 100 concurrent steps. Figures go to results.json under
 * `scale`, one SVG line chart per series to test/bench/charts/. `BENCH_SCALE=queue,agents,history,log` picks series.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { startCluster } from "../helpers/cluster.ts";
import { waitFor } from "../helpers/processes.ts";
import { lineChart, type Series } from "./charts.ts";
import { chainDispatchTimes } from "./dispatch.ts";
import { benchHistory, runsFor } from "./history.ts";
import { type Benchmark, type Figure, MiB, percentile, QUIET_ENV, round, rssNow, withCluster } from "./lib.ts";
import { LOG_BYTES, LOG_ENV, type LogView } from "./log-common.ts";
import { simulated } from "./throughput.ts";

const QUEUED = [1000, 10_000, 100_000];
const AGENTS = [10, 100, 1000];
const ATTEMPTS = [1_000_000, 10_000_000];
const STEPS = [1, 10, 100];
const CHARTS = join(import.meta.dir, "charts");
const RESULTS = join(import.meta.dir, "results.json");
/** dispatches timed at each queue length: a chain of 50 (each one walks the whole queue today: see BENCHMARKS.md) */
const DISPATCH_SAMPLES = 50;
const FILL_DEADLINE_MS = 10 * 60_000;
const LOG_REPEATS = 3;

/** What each series is, for its chart: results.json holds the points as `NAME@X_…` figures. */
const META: Record<string, Omit<Series, "name" | "points">> = {
  dispatch_p50_ms: { title: "Dispatch p50 with tasks queued", unit: "ms", x: "tasks queued" },
  coordinator_rss_mb: { title: "Coordinator RSS with tasks queued", unit: "MiB", x: "tasks queued" },
  submit_1000_tasks_ms: { title: "Submitting a run of 1,000 tasks with tasks queued", unit: "ms", x: "tasks queued" },
  tasks_per_s: { title: "Tasks/s with simulated agents (capacity 4)", unit: "tasks/s", x: "simulated agents" },
  history_query_p50_ms: { title: "History query p50 over attempts", unit: "ms", x: "attempts stored" },
  log_mb_s: { title: "Log ingest with concurrent steps (256 MiB in all)", unit: "MiB/s", x: "concurrent steps" },
};
const series = (name: string): Series => ({ name, ...META[name]!, points: [] });

/** `n` tasks that need a label no agent has: they wait in the queue for as long as the benchmark runs. */
const stuck = (n: number): string => `tasks:\n${Array.from({ length: n }, (_, i) => `  s${i}:\n    labels: { bench: never }\n    steps: [ { run: 'true' } ]\n`).join("")}`;

/**
 * One coordinator and one agent; the queue is filled 1,000 tasks a run, and at each length a chain is dispatched
 * through it. Filling stops at FILL_DEADLINE_MS a step: the lengths it did reach are the series.
 */
async function queueSeries(): Promise<Series[]> {
  const cluster = await startCluster(QUIET_ENV);
  try {
    await cluster.startAgent("scale", ["--capacity", "1"]);
    const [dispatch, rss, submit] = [series("dispatch_p50_ms"), series("coordinator_rss_mb"), series("submit_1000_tasks_ms")];
    let queued = 0;
    for (const target of QUEUED) {
      const t0 = performance.now();
      let last = 0;
      while (queued < target) {
        if (performance.now() - t0 > FILL_DEADLINE_MS) {
          console.error(`scale: gave up filling the queue to ${target} at ${queued} after ${FILL_DEADLINE_MS / 60_000} min`);
          return [dispatch, rss, submit];
        }
        const t = performance.now();
        await cluster.submit(stuck(1000), "bench-stuck");
        last = performance.now() - t;
        queued += 1000;
      }
      const depth = async () => (await cluster.api<{ queued: number }>("GET", "/api/v1/queue")).body.queued;
      await waitFor(`${target} tasks queued`, async () => (await depth()) >= target, FILL_DEADLINE_MS, 500);
      console.error(`scale: ${target} tasks queued (filled in ${round((performance.now() - t0) / 1000, 1)} s)`);
      await Bun.sleep(2000);
      submit.points.push({ x: target, y: round(last, 1) });
      rss.points.push({ x: target, y: round(rssNow(cluster.coordinator.proc.pid), 1) });
      dispatch.points.push({ x: target, y: round(percentile((await chainDispatchTimes(cluster, DISPATCH_SAMPLES)).firstByte, 50), 3) });
      console.error(`scale: dispatch p50 ${dispatch.points.at(-1)!.y} ms, RSS ${rss.points.at(-1)!.y} MiB, last submit ${last} ms`);
    }
    return [dispatch, rss, submit];
  } finally {
    await cluster.stop();
  }
}

async function agentsSeries(): Promise<Series[]> {
  const rates = series("tasks_per_s");
  let failed: unknown;
  for (const agents of AGENTS) {
    // a point that fails leaves a gap, not the whole series
    const rate = await simulated(agents, 900_000).catch((e) => {
      console.error(`scale: FAILED with ${agents} agents:`, e);
      failed = e;
      return undefined;
    });
    if (rate === undefined) continue;
    rates.points.push({ x: agents, y: round(rate, 1) });
    console.error(`scale: ${agents} agents, ${rate} tasks/s`);
  }
  if (failed) throw Object.assign(new Error("the agents series failed in part (above)"), { series: [rates] });
  return [rates];
}

async function historySeries(): Promise<Series[]> {
  const history = series("history_query_p50_ms");
  for (const attempts of ATTEMPTS) {
    history.points.push({ x: attempts, y: (await benchHistory(runsFor(attempts))).history_query_p50_ms!.value });
  }
  return [history];
}

/** `steps` tasks at once on one real agent, each writing 256 MiB / `steps` with dd; MiB/s from the first step's start to the run's end. */
async function logOnce(steps: number): Promise<number> {
  const block = 256 * 1024;
  const blocks = Math.floor(LOG_BYTES / steps / block);
  const pipeline = `tasks:\n${Array.from({ length: steps }, (_, i) => `  l${i}:\n    steps:\n      - run: dd if=/dev/zero bs=${block} count=${blocks} status=none\n`).join("")}`;
  return withCluster({ env: LOG_ENV, agentFlags: ["--capacity", String(steps)] }, async (cluster) => {
    const rates: number[] = [];
    for (let i = 0; i < LOG_REPEATS; i++) {
      const id = await cluster.submit(pipeline, "bench-log");
      await cluster.waitRun(id, 300_000);
      const { body } = await cluster.api<LogView>("GET", `/api/v1/runs/${id}`);
      const all = body.tasks.map((t) => t.attempts[0]!.steps[0]!);
      const short = all.find((s) => s.logSize !== blocks * block);
      if (short) throw new Error(`a step stored ${short.logSize} log bytes, expected ${blocks * block}`);
      const start = Math.min(...all.map((s) => s.startedAt));
      rates.push((steps * blocks * block) / MiB / ((body.endedAt - start) / 1000));
    }
    return percentile(rates, 50);
  });
}

async function logSeries(): Promise<Series[]> {
  const ingest = series("log_mb_s");
  for (const steps of STEPS) {
    ingest.points.push({ x: steps, y: round(await logOnce(steps), 1) });
    console.error(`scale: ${steps} concurrent steps, ${ingest.points.at(-1)!.y} MiB/s`);
  }
  return [ingest];
}

const SERIES: Record<string, () => Promise<Series[]>> = { queue: queueSeries, agents: agentsSeries, history: historySeries, log: logSeries };

/**
 * Draws every series' chart from the points results.json holds under `scale` with the ones just measured over them,
 * so that measuring one series leaves the others' charts as they were and every chart matches results.json.
 */
function drawCharts(measured: Record<string, Figure>): void {
  const stored = existsSync(RESULTS) ? ((JSON.parse(readFileSync(RESULTS, "utf8")) as { scale?: Record<string, Figure> }).scale ?? {}) : {};
  const all = new Map<string, Series>();
  for (const [key, figure] of Object.entries({ ...stored, ...measured })) {
    const [, name, x] = key.match(/^(\w+)@(\d+)_/) ?? [];
    if (!name || !META[name]) continue;
    if (!all.has(name)) all.set(name, series(name));
    all.get(name)!.points.push({ x: Number(x), y: figure.value });
  }
  mkdirSync(CHARTS, { recursive: true });
  for (const s of all.values()) {
    s.points.sort((a, b) => a.x - b.x);
    writeFileSync(join(CHARTS, `${s.name}.svg`), lineChart(s));
  }
}

/** Figure names of a series' points: the series and its x, e.g. `dispatch_p50_ms@10000_tasks_queued`. */
const pointName = (s: Series, x: number) => `${s.name}@${x}_${s.x.replaceAll(" ", "_")}`;

export const scale: Benchmark = {
  name: "scale",
  onlyByName: true,
  section: "scale",
  async run() {
    // BENCH_SCALE= (empty) measures nothing and only redraws the charts
    const picked = (process.env.BENCH_SCALE ?? Object.keys(SERIES).join(",")).split(",").filter(Boolean);
    const unknown = picked.filter((p) => !SERIES[p]);
    if (unknown.length) throw new Error(`BENCH_SCALE: unknown series ${unknown.join(", ")}; known: ${Object.keys(SERIES).join(", ")}`);
    const figures: Record<string, Figure> = {};
    let failed: unknown;
    for (const key of picked) {
      const measured = await SERIES[key]!().catch((e: Error & { series?: Series[] }) => {
        console.error(`scale: the ${key} series failed:`, e);
        failed = e;
        return e.series ?? [];
      });
      for (const s of measured) {
        for (const p of s.points) figures[pointName(s, p.x)] = { value: p.y, unit: s.unit, target: `(${p.x.toLocaleString("en-US")} ${s.x})` };
      }
    }
    drawCharts(figures);
    // what was measured is kept; the failure still fails the run
    if (failed) throw Object.assign(new Error("a scale series failed (above)"), { figures });
    return figures;
  },
};
