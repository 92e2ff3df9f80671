import { afterEach, expect, test } from "bun:test";
import { eq } from "drizzle-orm";
import { agents, attempts } from "../../coordinator/db/schema.ts";
import { type InProcess, startInProcess } from "../helpers/in-process.ts";
import { waitFor } from "../helpers/processes.ts";

let h: InProcess;
afterEach(() => h?.stop());

test("a lease flush writes each agent's own renewal, and its beat as the keepalive of its running attempts only", async () => {
  h = await startInProcess({ DROVER_HEARTBEAT_MS: "50000", DROVER_LEASE_TTL_MS: "60000" });
  const { db, fleet } = h.coordinator.services;
  const busy = await h.agent("busy");
  const idle = await h.agent("idle");
  // the fake agents' own heartbeats: the first within a second of the welcome, the next too late to land in the test
  for (const a of [busy, idle]) await waitFor(`${a.options.name}'s first lease frame`, () => a.received.some((f) => f.type === "lease") || undefined);
  const id = await h.submit("tasks:\n  t:\n    steps: [ { run: hold } ]\n");
  const attempt = async () => (await db.select().from(attempts))[0];
  await waitFor("the attempt to run", async () => (await attempt())?.state === "running");
  const online = (name: string) => [...fleet.agents.values()].find((a) => a.row.name === name)!;
  const now = Date.now();
  fleet.heartbeat(online("busy"), () => {}, now + 1000);
  fleet.heartbeat(online("idle"), () => {}, now + 2000);
  await fleet.flushLeases();
  const row = async (name: string) => (await db.select().from(agents).where(eq(agents.name, name)))[0]!;
  expect([(await row("busy")).lastHeartbeatAt, (await row("busy")).leaseExpiresAt]).toEqual([now + 1000, now + 61_000]);
  expect([(await row("idle")).lastHeartbeatAt, (await row("idle")).leaseExpiresAt]).toEqual([now + 2000, now + 62_000]);
  expect((await attempt())!.keepaliveAt).toBe(now + 1000);
  // a beat that arrived before a later sign of life (the attempt's start, say) but is flushed after it moves nothing back
  fleet.heartbeat(online("busy"), () => {}, now + 500);
  await fleet.flushLeases();
  expect((await attempt())!.keepaliveAt).toBe(now + 1000);
  busy.release();
  expect(await h.waitPhase(id, ["finished"])).toBe("finished");
});

test("an agent is told its lease is renewed only once the renewal is in the database", async () => {
  h = await startInProcess({ DROVER_HEARTBEAT_MS: "50000", DROVER_LEASE_TTL_MS: "60000" });
  const { db } = h.coordinator.services;
  const agent = await h.agent("beating");
  const stored = async () => (await db.select().from(agents).where(eq(agents.name, "beating")))[0]!.lastHeartbeatAt;
  // what the database holds at the moment each lease frame arrives
  const seen: Promise<number | null>[] = [];
  const push = agent.received.push.bind(agent.received);
  agent.received.push = (...frames) => {
    // (the fake agent's own heartbeats are numbered 0)
    for (const f of frames) if (f.type === "lease" && f.seq > 0) seen.push(stored());
    return push(...frames);
  };
  for (let seq = 1; seq <= 3; seq++) {
    const sentAt = Date.now();
    agent.sendRaw({ type: "heartbeat", seq });
    await waitFor(`the lease frame of heartbeat ${seq}`, () => (seen.length === seq ? true : undefined), 5000, 1);
    expect(await seen[seq - 1]).toBeGreaterThanOrEqual(sentAt);
  }
});

test("the welcome tells each agent when to send its first heartbeat: on the node's next heartbeat instant", async () => {
  h = await startInProcess({ DROVER_HEARTBEAT_MS: "5000", DROVER_LEASE_TTL_MS: "15000" });
  const { fleet } = h.coordinator.services;
  const agent = await h.agent("lined-up");
  expect(fleet.slots.slotMs).toBe(1000);
  expect(agent.welcomed?.firstHeartbeatMs).toBeGreaterThan(0);
  expect(agent.welcomed?.firstHeartbeatMs).toBeLessThanOrEqual(1000);
});
