import { afterEach, expect, test } from "bun:test";
import { eq } from "drizzle-orm";
import { agents, attempts } from "../../coordinator/db/schema.ts";
import { type InProcess, startInProcess } from "../helpers/in-process.ts";
import { waitFor } from "../helpers/processes.ts";

let h: InProcess;
afterEach(() => h?.stop());

test("a lease flush writes each agent's own renewal, and its beat as the keepalive of its running attempts only", async () => {
  // the fake agents' own heartbeats come too seldom to land during the test
  h = await startInProcess({ DROVER_HEARTBEAT_MS: "50000", DROVER_LEASE_TTL_MS: "60000" });
  const { db, fleet } = h.coordinator.services;
  const busy = await h.agent("busy");
  await h.agent("idle");
  const id = await h.submit("tasks:\n  t:\n    steps: [ { run: hold } ]\n");
  const attempt = async () => (await db.select().from(attempts))[0];
  await waitFor("the attempt to run", async () => (await attempt())?.state === "running");
  const online = (name: string) => [...fleet.agents.values()].find((a) => a.row.name === name)!;
  const now = Date.now();
  fleet.heartbeat(online("busy"), now + 1000);
  fleet.heartbeat(online("idle"), now + 2000);
  await fleet.flushLeases();
  const row = async (name: string) => (await db.select().from(agents).where(eq(agents.name, name)))[0]!;
  expect([(await row("busy")).lastHeartbeatAt, (await row("busy")).leaseExpiresAt]).toEqual([now + 1000, now + 61_000]);
  expect([(await row("idle")).lastHeartbeatAt, (await row("idle")).leaseExpiresAt]).toEqual([now + 2000, now + 62_000]);
  expect((await attempt())!.keepaliveAt).toBe(now + 1000);
  busy.release();
  expect(await h.waitPhase(id, ["finished"])).toBe("finished");
});

test("an agent is told its lease is renewed only once the renewal is in the database", async () => {
  // the fake agent's own heartbeats come too seldom to land during the test
  h = await startInProcess({ DROVER_HEARTBEAT_MS: "50000", DROVER_LEASE_TTL_MS: "60000" });
  const { db } = h.coordinator.services;
  const agent = await h.agent("beating");
  const stored = async () => (await db.select().from(agents).where(eq(agents.name, "beating")))[0]!.lastHeartbeatAt;
  // what the database holds at the moment each lease frame arrives
  const seen: Promise<number | null>[] = [];
  const push = agent.received.push.bind(agent.received);
  agent.received.push = (...frames) => {
    for (const f of frames) if (f.type === "lease") seen.push(stored());
    return push(...frames);
  };
  for (let seq = 1; seq <= 3; seq++) {
    const sentAt = Date.now();
    agent.sendRaw({ type: "heartbeat", seq });
    await waitFor(`the lease frame of heartbeat ${seq}`, () => (seen.length === seq ? true : undefined), 5000, 1);
    expect(await seen[seq - 1]).toBeGreaterThanOrEqual(sentAt);
  }
});
