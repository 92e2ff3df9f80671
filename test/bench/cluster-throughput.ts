import { ADMIN_TOKEN, type Coordinator, END_PHASES, type RunSummary, startCluster } from "../helpers/cluster.ts";
import { haveNats, startNatsServer } from "../helpers/nats-server.ts";
import { startNodes } from "../helpers/nodes.ts";
import { waitFor } from "../helpers/processes.ts";
import { type Benchmark, QUIET_ENV, round, type SimAgents, startSimAgents, target, widePipeline } from "./lib.ts";

/** Both sides: 6 runs of 300 one-step tasks at once, after an untimed warm-up, on 24 simulated agents (capacity 4). */
const [RUNS, TASKS, WARMUP, AGENTS] = [6, 300, 100, 24];

const headers = { authorization: `Bearer ${ADMIN_TOKEN}`, "content-type": "application/json" };

/**
 * Submits `runs` runs of `tasks` tasks spread over the nodes (round robin) and returns tasks per second, from just
 * before the first submit to the last run's stored `endedAt`.
 */
async function clusterTasksPerSecond(nodes: Coordinator[], runs: number, tasks: number): Promise<number> {
  const group = `bench-${crypto.randomUUID()}`;
  const pipeline = widePipeline(tasks);
  const start = Date.now();
  await Promise.all(
    Array.from({ length: runs }, async (_, i) => {
      const res = await fetch(`${nodes[i % nodes.length]!.url}/api/v1/runs`, { method: "POST", headers, body: JSON.stringify({ pipeline, group }) });
      if (res.status !== 201) throw new Error(`submit: ${res.status} ${await res.text()}`);
    }),
  );
  const done = await waitFor(
    `${runs} runs to end`,
    async () => {
      const res = await fetch(`${nodes[0]!.url}/api/v1/runs?group=${group}&limit=${runs}`, { headers });
      const ended = ((await res.json()) as { runs: RunSummary[] }).runs.filter((r) => END_PHASES.includes(r.phase));
      return ended.length === runs ? ended : undefined;
    },
    300_000,
    200,
  );
  const bad = done.find((r) => r.result !== "success");
  if (bad) throw new Error(`run ${bad.id} ended ${bad.phase}/${bad.result}`);
  return (runs * tasks) / ((Math.max(...done.map((r) => r.endedAt ?? 0)) - start) / 1000);
}

/**
 * `count` coordinators on one libSQL file (and NATS with more than one), the simulated agents split evenly over them
 * from one process, as with one node.
 */
async function measure(count: number): Promise<number> {
  const nats = count > 1 && haveNats ? await startNatsServer() : null;
  const cluster = await startCluster(QUIET_ENV);
  let sims: SimAgents | null = null;
  try {
    const nodes = await startNodes(cluster, count, { ...QUIET_ENV, ...(nats ? { DROVER_NATS_URL: nats.url } : {}) });
    sims = await startSimAgents(nodes, AGENTS, 4);
    await clusterTasksPerSecond(nodes, count, WARMUP);
    return await clusterTasksPerSecond(nodes, RUNS, TASKS);
  } finally {
    sims?.stop();
    await cluster.stop();
    await nats?.stop();
  }
}

/**
 * `cluster_tasks_per_s`: tasks per second through three coordinators sharing one database, against the same
 * through one, with the same simulated agents and work. On this machine all three share its two cores. Each side is
 * measured twice, in the order one, three, three, one, so a drift of the machine's speed meets both alike (one
 * node's figure alone moved 1,300–3,500 tasks/s between minutes here); each figure is its side's best.
 */
export const clusterThroughput: Benchmark = {
  name: "cluster",
  async run() {
    const ones = [await measure(1)];
    const threes = [await measure(3), await measure(3)];
    ones.push(await measure(1));
    const [one, three] = [Math.max(...ones), Math.max(...threes)];
    const ratio = three / one;
    const shown = (xs: number[]) => xs.map((x) => x.toFixed(0)).join(" and ");
    console.error(`cluster throughput: one node ${shown(ones)} tasks/s, three nodes ${shown(threes)} tasks/s`);
    return {
      cluster_tasks_per_s: {
        value: round(three, 1),
        unit: "tasks/s",
        baseline: round(one, 1),
        ratio: round(ratio),
        target: target("≥ 0.8 of one node", ratio >= 0.8),
      },
    };
  },
};
