import { describe, expect, test } from "bun:test";
import { join } from "node:path";
import { createClient } from "@libsql/client";
import { expectEachTickOnce, loadClusterPerFile, submitOn, tasks, tickEverySecond, waitAll } from "../helpers/load.ts";
import { haveNats } from "../helpers/nats-server.ts";

/**
 * Three coordinators on one database and NATS, with fake agents (the real protocol, no processes) on all of
 * them: thousands of tasks each claimed once and no agent over its capacity, a per-second schedule firing
 * once per tick through it all. (`cluster-outage.test.ts`: the same cluster with nats-server stopped.)
 */
describe.skipIf(!haveNats)("three coordinators under load", () => {
  const load = loadClusterPerFile();

  test("5,000 tasks through three nodes: each attempt claimed once, no agent ever over its capacity, a per-second schedule once per tick", async () => {
    const { cluster, nodes, agents } = load();
    const schedule = await tickEverySecond(cluster, nodes[1]!);
    const started = Date.now();
    const ids: string[] = [];
    for (let r = 0; r < 50; r++) ids.push(await submitOn(nodes[r % 3]!, tasks(100, "echo done")));
    const runs = await waitAll(nodes[0]!, ids, 400_000);
    const seconds = (Date.now() - started) / 1000;
    console.log(`5,000 tasks through 3 nodes in ${seconds.toFixed(1)} s (${(5000 / seconds).toFixed(0)} tasks/s)`);
    // the schedule is counted over 15 s at least, however fast the load went
    await Bun.sleep(Math.max(0, 15_000 - (Date.now() - started)));
    expectEachTickOnce(await schedule.stop(), 15);
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
      (await db.execute(`SELECT id FROM attempts WHERE run_id IN (${ids.map(() => "?").join(",")})`, ids)).rows.map((r) =>
        String(r.id),
      ),
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
});
