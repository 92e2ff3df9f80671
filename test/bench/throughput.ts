import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openDb } from "../../coordinator/db/open.ts";
import { type Cluster, END_PHASES, type RunSummary, startCluster } from "../helpers/cluster.ts";
import { waitFor } from "../helpers/processes.ts";
import { bullmqJobsPerSecond } from "./bullmq.ts";
import { type Benchmark, QUIET_ENV, round, startSimAgents, target, widePipeline } from "./lib.ts";

/**
 * Submits `runs` runs of `tasks` one-step tasks at once and returns tasks per second, from just
 * before the first submit to the last run's `endedAt` as the coordinator stored it (so the
 * polling interval adds nothing). Polls a one-row-per-run summary, seldom, to stay out of the way.
 */
export async function tasksPerSecond(cluster: Cluster, runs: number, tasks: number, timeoutMs: number): Promise<number> {
  const group = `bench-${crypto.randomUUID()}`;
  const pipeline = widePipeline(tasks);
  const start = Date.now();
  const ids = await Promise.all(Array.from({ length: runs }, () => cluster.submit(pipeline, group)));
  let phases = "";
  const done = await waitFor(
    `runs ${ids.join(", ")} to end`,
    async () => {
      const { body } = await cluster.api<{ runs: RunSummary[] }>("GET", `/api/v1/runs?group=${group}&limit=${runs}`);
      phases = body.runs.map((r) => r.phase).join(", ");
      const ended = body.runs.filter((r) => END_PHASES.includes(r.phase));
      return ended.length === runs ? ended : undefined;
    },
    timeoutMs,
    100,
  ).catch((e: Error) => {
    throw new Error(`${e.message} (phases: ${phases})`);
  });
  const bad = done.find((r) => r.result !== "success");
  if (bad) throw new Error(`run ${bad.id} ended ${bad.phase}/${bad.result}`);
  const end = Math.max(...done.map((r) => r.endedAt ?? 0));
  return (runs * tasks) / ((end - start) / 1000);
}

/** What both sides get: 4 runs (BullMQ: bulk adds) of 500 tasks at once, after 200 untimed ones, across 50 agents (BullMQ: slots). */
const [RUNS, TASKS, WARMUP, AGENTS] = [4, 500, 200, 50];

/** `agents` simulated agents (capacity 4) in a process of their own: the coordinator's own ceiling. */
export async function simulated(agents: number, timeoutMs = 120_000): Promise<number> {
  const cluster = await startCluster(QUIET_ENV);
  try {
    const sims = await startSimAgents([cluster.coordinator], agents, 4);
    try {
      await tasksPerSecond(cluster, 1, WARMUP, timeoutMs); // warm-up: JIT, statement caches
      return await tasksPerSecond(cluster, RUNS, TASKS, timeoutMs);
    } finally {
      sims.stop();
    }
  } finally {
    await cluster.stop();
  }
}

/** 4 real agents (capacity 2) running `true`: the same with spawning, spooling and reporting. */
async function realAgents(): Promise<number> {
  const cluster = await startCluster(QUIET_ENV);
  try {
    for (let i = 0; i < 4; i++) await cluster.startAgent(`real-${i}`, ["--capacity", "2"]);
    await tasksPerSecond(cluster, 1, 20, 60_000);
    return await tasksPerSecond(cluster, 2, 200, 180_000);
  } finally {
    await cluster.stop();
  }
}

/** Single-row autocommit inserts per second into a WAL database opened the way the coordinator opens its own. */
async function rawInserts(): Promise<number> {
  const dir = mkdtempSync(join(tmpdir(), "drover-bench-libsql-"));
  try {
    const db = await openDb({ url: `file:${join(dir, "drover.db")}` });
    const client = db.$client;
    try {
      await client.execute("CREATE TABLE scratch (id INTEGER PRIMARY KEY, run_id TEXT NOT NULL, name TEXT NOT NULL, state TEXT NOT NULL, at INTEGER NOT NULL)");
      const insert = (i: number) => client.execute({ sql: "INSERT INTO scratch (run_id, name, state, at) VALUES (?, ?, ?, ?)", args: ["r1", `t${i}`, "queued", Date.now()] });
      for (let i = 0; i < 200; i++) await insert(i);
      const n = 5000;
      const t0 = performance.now();
      for (let i = 0; i < n; i++) await insert(i);
      return n / ((performance.now() - t0) / 1000);
    } finally {
      client.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export const throughput: Benchmark = {
  name: "throughput",
  rounds: 3,
  async run() {
    const bullmq = await bullmqJobsPerSecond(AGENTS, RUNS, TASKS, WARMUP);
    const inserts = await rawInserts();
    const value = await simulated(AGENTS);
    const real = await realAgents();
    return {
      tasks_per_s: {
        value: round(value, 1),
        unit: "tasks/s",
        baseline: round(bullmq, 1),
        ratio: round(value / bullmq, 3),
        target: target("≥ 1500 tasks/s", value >= 1500),
      },
      bullmq_jobs_per_s: { value: round(bullmq, 1), unit: "jobs/s", target: "(BullMQ no-op jobs, one worker, concurrency 50)" },
      libsql_inserts_per_s: { value: round(inserts), unit: "rows/s", target: "(single-row autocommit inserts, WAL)" },
      tasks_per_s_real_agents: { value: round(real, 1), unit: "tasks/s", target: "(no target; 4 agents × capacity 2)" },
    };
  },
};
