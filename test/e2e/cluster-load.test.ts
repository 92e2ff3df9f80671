import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { join } from "node:path";
import { createClient } from "@libsql/client";
import { AGENT_TOKEN, ADMIN_TOKEN, type Cluster, type Coordinator, END_PHASES, type RunView, startCluster } from "../helpers/cluster.ts";
import { FakeAgent } from "../helpers/fake-agent.ts";
import { haveNats, type NatsServer, startNatsServer } from "../helpers/nats-server.ts";
import { startNodes } from "../helpers/nodes.ts";
import { waitFor } from "../helpers/processes.ts";

const auth = { authorization: `Bearer ${ADMIN_TOKEN}` };

async function submitOn(node: Coordinator, pipeline: string): Promise<string> {
  const res = await fetch(`${node.url}/api/v1/runs`, {
    method: "POST",
    headers: { ...auth, "content-type": "application/json" },
    body: JSON.stringify({ pipeline, group: "load" }),
  });
  const body = (await res.json()) as { id: string };
  if (res.status !== 201) throw new Error(`submit on ${node.url}: ${res.status} ${JSON.stringify(body)}`);
  return body.id;
}

async function waitAll(node: Coordinator, ids: string[], timeoutMs: number): Promise<RunView[]> {
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

const tasks = (n: number, step: string) =>
  `tasks:\n${Array.from({ length: n }, (_, i) => `  t${i}:\n    steps: [ { run: ${JSON.stringify(step)} } ]\n`).join("")}`;

/**
 * Three coordinators on one database and NATS, with fake agents (the real protocol, no processes) on all of
 * them: thousands of tasks each claimed once and no agent over its capacity; runs finishing while NATS is down.
 */
describe.skipIf(!haveNats)("three coordinators under load", () => {
  let cluster: Cluster;
  let nats: NatsServer;
  let nodes: Coordinator[];
  const agents: FakeAgent[] = [];
  let schedule = "";
  let scheduledAt = 0;

  beforeAll(async () => {
    nats = await startNatsServer();
    cluster = await startCluster();
    nodes = await startNodes(cluster, 3, { DROVER_NATS_URL: nats.url });
    for (let i = 0; i < 4; i++) {
      const agent = new FakeAgent({ url: nodes[i % 3]!.url, token: AGENT_TOKEN, name: `fake-${i}`, capacity: 8 });
      await agent.connect();
      agents.push(agent);
    }
    // a per-second schedule through all of it (load, NATS down), counted at the end over two minutes
    const res = await fetch(`${nodes[1]!.url}/api/v1/schedules`, {
      method: "POST",
      headers: { ...auth, "content-type": "application/json" },
      body: JSON.stringify({ pipeline: "tasks:\n  tick:\n    steps: [ { run: 'echo tick' } ]", cron: "* * * * * *", group: "every-second" }),
    });
    expect(res.status).toBe(201);
    schedule = ((await res.json()) as { id: string }).id;
    scheduledAt = Date.now();
  }, 90_000);
  afterAll(async () => {
    for (const a of agents) a.crash();
    await cluster?.stop();
    await nats?.stop();
  });

  test("5,000 tasks through three nodes: each attempt claimed once, no agent ever over its capacity", async () => {
    const started = Date.now();
    const ids: string[] = [];
    for (let r = 0; r < 50; r++) ids.push(await submitOn(nodes[r % 3]!, tasks(100, "echo done")));
    const runs = await waitAll(nodes[0]!, ids, 400_000);
    const seconds = (Date.now() - started) / 1000;
    console.log(`5,000 tasks through 3 nodes in ${seconds.toFixed(1)} s (${(5000 / seconds).toFixed(0)} tasks/s)`);
    expect(runs.map((r) => r.result)).toEqual(ids.map(() => "success"));
    const db = createClient({ url: `file:${join(cluster.dir, "cluster.db")}` });
    const rows = (
      await db.execute(
        `SELECT count(*) AS n, count(DISTINCT task_id) AS tasks, sum(state = 'success') AS ok, max(number) AS top
         FROM attempts WHERE run_id IN (${ids.map(() => "?").join(",")})`,
        ids,
      )
    ).rows[0]!;
    const attemptIds = new Set(
      (await db.execute(`SELECT id FROM attempts WHERE run_id IN (${ids.map(() => "?").join(",")})`, ids)).rows.map((r) => String(r.id)),
    );
    db.close();
    // one attempt per task, never a second: no attempt was lost, retried or claimed twice
    expect([Number(rows.n), Number(rows.tasks), Number(rows.ok), Number(rows.top)]).toEqual([5000, 5000, 5000, 1]);
    // the schedule's runs go to the same agents: only this test's attempts are counted
    const received = agents.flatMap((a) => a.assigned).filter((id) => attemptIds.has(id));
    expect(received).toHaveLength(5000);
    expect(new Set(received).size).toBe(5000);
    for (const a of agents) expect(a.maxHeld).toBeLessThanOrEqual(a.capacity);
    // every node's agents did some of the work
    for (const a of agents) expect(a.assigned.length).toBeGreaterThan(0);
  }, 420_000);

  test("nats-server stopped for 20 s mid-run: the runs still finish, by polling", async () => {
    const before = agents.map((a) => a.assigned.length);
    const ids: string[] = [];
    for (let r = 0; r < 6; r++) ids.push(await submitOn(nodes[r % 3]!, tasks(20, "sleep 0.5\necho done")));
    await nats.stop();
    const stoppedAt = Date.now();
    // runs submitted while the bus is down are found by polling too
    for (let r = 0; r < 3; r++) ids.push(await submitOn(nodes[r]!, tasks(10, "echo late")));
    const cut = Math.max(0, 20_000 - (Date.now() - stoppedAt));
    await Bun.sleep(cut);
    const during = agents.map((a, i) => a.assigned.length - before[i]!);
    await nats.start();
    const runs = await waitAll(nodes[1]!, ids, 120_000);
    expect(runs.map((r) => r.result)).toEqual(ids.map(() => "success"));
    console.log(`tasks taken while NATS was down: ${during.join(", ")} per agent`);
    // the work went on while NATS was down, on more than one node's agents
    expect(during.filter((n) => n > 0).length).toBeGreaterThan(1);
    for (const a of agents) expect(a.maxHeld).toBeLessThanOrEqual(a.capacity);
  }, 180_000);

  test("a per-second schedule fired exactly once per tick over two minutes, through the load and the NATS outage", async () => {
    await Bun.sleep(Math.max(0, 120_000 - (Date.now() - scheduledAt)));
    await fetch(`${nodes[0]!.url}/api/v1/schedules/${schedule}`, { method: "DELETE", headers: auth });
    const stoppedAt = Date.now();
    await Bun.sleep(1500);
    const db = createClient({ url: `file:${join(cluster.dir, "cluster.db")}` });
    const rows = await db.execute(`SELECT json_extract(variables, '$.DROVER_SCHEDULE_TICK') AS tick FROM runs WHERE "group" = 'every-second'`);
    db.close();
    const ticks = rows.rows.map((r) => String(r.tick));
    const seconds = Math.floor(stoppedAt / 1000) - Math.floor(scheduledAt / 1000);
    console.log(`${ticks.length} scheduled runs in ${seconds} ticks of 1 s across 3 nodes`);
    expect(seconds).toBeGreaterThanOrEqual(120);
    // never twice for a tick, and no tick missed (one either side for the creation and deletion)
    expect(new Set(ticks).size).toBe(ticks.length);
    expect(ticks.length).toBeGreaterThanOrEqual(seconds - 1);
    expect(ticks.length).toBeLessThanOrEqual(seconds + 1);
  }, 180_000);
});
