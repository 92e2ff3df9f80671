import { describe, expect, test } from "bun:test";
import { expectEachTickOnce, loadClusterPerFile, submitOn, tasks, tickEverySecond, waitAll } from "../helpers/load.ts";
import { haveNats } from "../helpers/nats-server.ts";

/**
 * Three coordinators on one database and NATS, with fake agents on all of them, and nats-server stopped
 * mid-run: the work goes on by polling the database, a per-second schedule still fires once per tick.
 * Issue 17 names the lengths: nats-server stopped for 20 s, the schedule counted over two minutes.
 */
const OUTAGE_MS = 20_000;
const SCHEDULE_MS = 120_000;
describe.skipIf(!haveNats)("three coordinators losing NATS", () => {
  const load = loadClusterPerFile();

  test("nats-server stopped for 20 s mid-run: the runs still finish, by polling; a per-second schedule once per tick over two minutes", async () => {
    const { cluster, nats, nodes, agents } = load();
    const schedule = await tickEverySecond(cluster, nodes[1]!);
    const scheduledAt = Date.now();
    const before = agents.map((a) => a.assigned.length);
    const ids: string[] = [];
    for (let r = 0; r < 6; r++) ids.push(await submitOn(nodes[r % 3]!, tasks(20, "sleep 0.5\necho done")));
    await nats.stop();
    const stoppedAt = Date.now();
    // runs submitted while the bus is down are found by polling too
    for (let r = 0; r < 3; r++) ids.push(await submitOn(nodes[r]!, tasks(10, "echo late")));
    await Bun.sleep(Math.max(0, OUTAGE_MS - (Date.now() - stoppedAt)));
    const during = agents.map((a, i) => a.assigned.length - before[i]!);
    await nats.start();
    const runs = await waitAll(nodes[1]!, ids, 120_000);
    expect(runs.map((r) => r.result)).toEqual(ids.map(() => "success"));
    console.log(`tasks taken while NATS was down: ${during.join(", ")} per agent`);
    // the work went on while NATS was down, on more than one node's agents
    expect(during.filter((n) => n > 0).length).toBeGreaterThan(1);
    for (const a of agents) expect(a.maxHeld).toBeLessThanOrEqual(a.capacity);
    // the schedule is counted over two minutes: through the outage and the polling after it
    await Bun.sleep(Math.max(0, SCHEDULE_MS - (Date.now() - scheduledAt)));
    expectEachTickOnce(await schedule.stop(), SCHEDULE_MS / 1000);
  }, 300_000);
});
