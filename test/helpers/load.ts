/** What the cluster load tests share: runs of many tasks submitted to nodes, and a per-second schedule counted. */
import { afterAll, beforeAll, expect } from "bun:test";
import { ADMIN_TOKEN, AGENT_TOKEN, type Cluster, type Coordinator, END_PHASES, type RunView, startCluster } from "./cluster.ts";
import { FakeAgent } from "./fake-agent.ts";
import { type NatsServer, startNatsServer } from "./nats-server.ts";
import { startNodes, ticksOf } from "./nodes.ts";
import { waitFor } from "./processes.ts";

const auth = { authorization: `Bearer ${ADMIN_TOKEN}` };

export async function submitOn(node: Coordinator, pipeline: string): Promise<string> {
  const res = await fetch(`${node.url}/api/v1/runs`, {
    method: "POST",
    headers: { ...auth, "content-type": "application/json" },
    body: JSON.stringify({ pipeline, group: "load" }),
  });
  const body = (await res.json()) as { id: string };
  if (res.status !== 201) throw new Error(`submit on ${node.url}: ${res.status} ${JSON.stringify(body)}`);
  return body.id;
}

export async function waitAll(node: Coordinator, ids: string[], timeoutMs: number): Promise<RunView[]> {
  const ended = new Map<string, RunView>();
  await waitFor(
    `${ids.length} runs to end`,
    async () => {
      for (const id of ids) {
        if (ended.has(id)) continue;
        const run = (await (await fetch(`${node.url}/api/v1/runs/${id}`, { headers: auth })).json()) as RunView;
        if (!END_PHASES.includes(run.phase)) return false;
        ended.set(id, run);
      }
      return true;
    },
    timeoutMs,
    500,
  );
  return ids.map((id) => ended.get(id)!);
}

/** A pipeline of `n` independent tasks, each one step running `step`. */
export const tasks = (n: number, step: string) =>
  `tasks:\n${Array.from({ length: n }, (_, i) => `  t${i}:\n    steps: [ { run: ${JSON.stringify(step)} } ]\n`).join("")}`;

/** The ticks a per-second schedule fired while it existed, and how many seconds began in that time. */
export interface Ticks {
  ticks: string[];
  seconds: number;
}

/**
 * Creates a per-second schedule (group `every-second`) on `node`; `stop()` deletes it, lets a tick in flight
 * land, and reads the ticks of the runs it started from the cluster's shared database.
 */
export async function tickEverySecond(cluster: Cluster, node: Coordinator): Promise<{ stop(): Promise<Ticks> }> {
  const res = await fetch(`${node.url}/api/v1/schedules`, {
    method: "POST",
    headers: { ...auth, "content-type": "application/json" },
    body: JSON.stringify({
      pipeline: "tasks:\n  tick:\n    steps: [ { run: 'echo tick' } ]",
      cron: "* * * * * *",
      group: "every-second",
    }),
  });
  if (res.status !== 201) throw new Error(`schedule on ${node.url}: ${res.status} ${await res.text()}`);
  const { id } = (await res.json()) as { id: string };
  const createdAt = Date.now();
  return {
    async stop() {
      await fetch(`${node.url}/api/v1/schedules/${id}`, { method: "DELETE", headers: auth });
      const stoppedAt = Date.now();
      await Bun.sleep(1500);
      return {
        ticks: await ticksOf(cluster, "every-second"),
        seconds: Math.floor(stoppedAt / 1000) - Math.floor(createdAt / 1000),
      };
    },
  };
}

/** Three coordinators on one database and a nats-server, and four fake agents (capacity 8) spread over them. */
export interface LoadCluster {
  cluster: Cluster;
  nats: NatsServer;
  nodes: Coordinator[];
  agents: FakeAgent[];
  stop(): Promise<void>;
}

export async function startLoadCluster(): Promise<LoadCluster> {
  const nats = await startNatsServer();
  const cluster = await startCluster();
  const agents: FakeAgent[] = [];
  const stop = async () => {
    for (const a of agents) a.crash();
    await cluster.stop();
    await nats.stop();
  };
  try {
    const nodes = await startNodes(cluster, 3, { DROVER_NATS_URL: nats.url });
    for (let i = 0; i < 4; i++) {
      const agent = new FakeAgent({ url: nodes[i % 3]!.url, token: AGENT_TOKEN, name: `fake-${i}`, capacity: 8 });
      await agent.connect();
      agents.push(agent);
    }
    return { cluster, nats, nodes, agents, stop };
  } catch (e) {
    await stop();
    throw e;
  }
}

/** Each tick fired once, none missed (one either side for the schedule's creation and deletion). */
export function expectEachTickOnce({ ticks, seconds }: Ticks, atLeastSeconds: number): void {
  console.log(`${ticks.length} scheduled runs in ${seconds} ticks of 1 s across 3 nodes`);
  expect(seconds).toBeGreaterThanOrEqual(atLeastSeconds);
  expect(new Set(ticks).size).toBe(ticks.length);
  expect(ticks.length).toBeGreaterThanOrEqual(seconds - 1);
  expect(ticks.length).toBeLessThanOrEqual(seconds + 1);
}

/** A load cluster started before the file's tests and stopped after them. */
export function loadClusterPerFile(): () => LoadCluster {
  let load: LoadCluster | undefined;
  beforeAll(async () => {
    load = await startLoadCluster();
  }, 90_000);
  afterAll(async () => {
    await load?.stop();
  });
  return () => load!;
}
