import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createHmac } from "node:crypto";
import { ADMIN_TOKEN, type Cluster, startCluster } from "../helpers/cluster.ts";
import { killGroup, waitFor } from "../helpers/processes.ts";

let cluster: Cluster;
let agent: Awaited<ReturnType<Cluster["startAgent"]>>;
beforeAll(async () => {
  // a short lease lets attempts cut off by the coordinator restart be retried on the new agent quickly
  cluster = await startCluster({ DROVER_LEASE_TTL_MS: "3000", DROVER_HEARTBEAT_MS: "1000" });
  agent = await cluster.startAgent("t1", ["--capacity", "4"]);
}, 60_000);
afterAll(() => cluster.stop());

const TICK_PIPELINE = "tasks:\n  tick: { steps: [ { run: 'echo \"$DROVER_SCHEDULE_TICK\"' } ] }\n";
type Schedule = { id: string; pipeline: string; cron: string; lastTick: number | null };
type Run = { id: string; result: string; pipeline: string };

async function createSchedule(group: string, pipeline = TICK_PIPELINE): Promise<Schedule> {
  const res = await cluster.api<Schedule>("POST", "/api/v1/schedules", { pipeline, cron: "*/1 * * * * *", group });
  expect(res.status).toBe(201);
  return res.body;
}
const runIds = async (group: string) =>
  (await cluster.api<{ runs: { id: string }[] }>("GET", `/api/v1/runs?group=${group}&limit=1000`)).body.runs.map((r) => r.id).reverse();
const waitRuns = (group: string, count: number) =>
  waitFor(`${count} runs in ${group}`, async () => {
    const ids = await runIds(group);
    return ids.length >= count && ids;
  }, 30_000);
/** Each run echoes its DROVER_SCHEDULE_TICK, so the log says which tick it ran for. */
async function ticksOf(group: string): Promise<number[]> {
  const ticks: number[] = [];
  for (const id of await runIds(group)) {
    expect((await cluster.waitRun(id, 30_000)).result).toBe("success");
    ticks.push(Date.parse((await cluster.log(id, "tick", 0)).trim()));
  }
  return ticks;
}

describe("cron schedules", () => {
  test("a bad cron or pipeline is refused; viewers cannot create", async () => {
    const cron = await cluster.api<{ error: { code: string; message: string } }>("POST", "/api/v1/schedules", {
      pipeline: TICK_PIPELINE,
      cron: "61 * * * *",
      group: "bad",
    });
    expect(cron.status).toBe(400);
    expect(cron.body.error.message).toContain("invalid cron expression");
    const pipeline = await cluster.api<{ error: { code: string; details: { errors: string[] } } }>("POST", "/api/v1/schedules", {
      pipeline: "tasks:\n  a:\n    stepz: []\n",
      cron: "* * * * *",
      group: "bad",
    });
    expect(pipeline.status).toBe(400);
    expect(pipeline.body.error.code).toBe("invalid_pipeline");
    for (const e of pipeline.body.error.details.errors) expect(e).toMatch(/^\.drover\.yml:\d+:\d+: /);
    const viewer = await cluster.api<{ token: string }>("POST", "/api/v1/tokens", { user: "vera", role: "viewer" });
    const denied = await cluster.api("POST", "/api/v1/schedules", { pipeline: TICK_PIPELINE, cron: "* * * * *", group: "bad" }, viewer.body.token);
    expect(denied.status).toBe(403);
    expect((await cluster.api<{ schedules: unknown[] }>("GET", "/api/v1/schedules")).body.schedules).toEqual([]);
    expect((await cluster.api("DELETE", "/api/v1/schedules/nope")).status).toBe(404);
  });

  test("a per-second schedule runs about once a second, each tick once, until deleted", async () => {
    const schedule = await createSchedule("every-second");
    await waitRuns("every-second", 4);
    expect((await cluster.api("DELETE", `/api/v1/schedules/${schedule.id}`)).status).toBe(200);
    const deletedAt = Date.now();
    await Bun.sleep(1500);
    const ticks = await ticksOf("every-second");
    expect(new Set(ticks).size).toBe(ticks.length);
    for (const tick of ticks) {
      expect(tick % 1000).toBe(0);
      expect(tick).toBeLessThan(deletedAt);
    }
  }, 60_000);

  test("changing a schedule's pipeline leaves earlier runs with the pipeline they ran", async () => {
    const v1 = "tasks:\n  tick: { steps: [ { run: echo v1 } ] }\n";
    const v2 = "tasks:\n  tick: { steps: [ { run: echo v2 } ] }\n";
    const schedule = await createSchedule("versions", v1);
    const [first] = await waitRuns("versions", 1);
    const put = await cluster.api<Schedule>("PUT", `/api/v1/schedules/${schedule.id}`, { pipeline: v2 });
    expect(put.status).toBe(200);
    expect(put.body.pipeline).toBe(v2);
    const bad = await cluster.api("PUT", `/api/v1/schedules/${schedule.id}`, { cron: "nope" });
    expect(bad.status).toBe(400);
    const later = await waitFor("a run of the new pipeline", async () => {
      const ids = await runIds("versions");
      const run = (await cluster.api<Run>("GET", `/api/v1/runs/${ids.at(-1)}`)).body;
      return run.pipeline === v2 && run;
    }, 30_000);
    await cluster.api("DELETE", `/api/v1/schedules/${schedule.id}`);
    expect((await cluster.waitRun(first!)).result).toBe("success");
    expect((await cluster.api<Run>("GET", `/api/v1/runs/${first}`)).body.pipeline).toBe(v1);
    expect(await cluster.log(first!, "tick", 0)).toBe("v1\n");
    await cluster.waitRun(later.id);
    expect(await cluster.log(later.id, "tick", 0)).toBe("v2\n");
  }, 60_000);
});

describe("webhooks", () => {
  const payload = JSON.stringify({ ref: "refs/heads/main", action: "push", repository: { name: "drover" } });
  const sign = (secret: string, body: string) => `sha256=${createHmac("sha256", secret).update(body).digest("hex")}`;
  const deliver = (id: string, body: string, signature?: string) =>
    fetch(`${cluster.coordinator.url}/api/v1/hooks/${id}`, {
      method: "POST",
      headers: { "content-type": "application/json", ...(signature ? { "x-hub-signature-256": signature } : {}) },
      body,
    });

  test("a signed delivery starts a run with the payload's fields; a bad or missing signature is refused", async () => {
    const pipeline = "tasks:\n  hook: { steps: [ { run: 'echo \"$HOOK_REF $HOOK_ACTION\"; env | grep -c ^HOOK_' } ] }\n";
    expect((await fetch(`${cluster.coordinator.url}/api/v1/hooks`, { method: "POST", body: "{}" })).status).toBe(401);
    const hook = await cluster.api<{ id: string; secret: string }>("POST", "/api/v1/hooks", { pipeline, group: "hooks" });
    expect(hook.status).toBe(201);
    expect(hook.body.secret.length).toBeGreaterThanOrEqual(32);

    const good = await deliver(hook.body.id, payload, sign(hook.body.secret, payload));
    expect(good.status).toBe(201);
    const run = await cluster.waitRun(((await good.json()) as { id: string }).id);
    expect(run.result).toBe("success");
    expect(await cluster.log(run.id, "hook", 0)).toBe("refs/heads/main push\n2\n");

    for (const signature of [sign("wrong-secret", payload), sign(hook.body.secret, `${payload} `), undefined]) {
      const refused = await deliver(hook.body.id, payload, signature);
      expect(refused.status).toBe(401);
      expect(((await refused.json()) as { error: { code: string } }).error.code).toBe("unauthorized");
    }
    expect((await runIds("hooks")).length).toBe(1);
    expect((await deliver("nope", payload, sign(hook.body.secret, payload))).status).toBe(404);
    const listed = await cluster.api<{ hooks: Record<string, unknown>[] }>("GET", "/api/v1/hooks", undefined, ADMIN_TOKEN);
    expect(listed.body.hooks.map((h) => [h.id, h.secret])).toEqual([[hook.body.id, undefined]]);
  }, 60_000);
});

describe("coordinator restart", () => {
  test("a schedule catches up at most one tick missed while the coordinator was down", async () => {
    const schedule = await createSchedule("restart");
    const before = (await waitRuns("restart", 2)).length;
    const killedAt = Date.now();
    cluster.coordinator.proc.kill("SIGKILL");
    killGroup(agent.proc);
    await Bun.sleep(3500);
    const restartedAt = Date.now();
    await cluster.startCoordinator();
    agent = await cluster.startAgent("t2", ["--capacity", "4"]);
    await waitRuns("restart", before + 3);
    await cluster.api("DELETE", `/api/v1/schedules/${schedule.id}`);
    const ticks = await ticksOf("restart");
    expect(new Set(ticks).size).toBe(ticks.length);
    // about four ticks fell in the outage; catching all of them up would be a burst
    expect(ticks.filter((t) => t > killedAt && t < restartedAt).length).toBeLessThanOrEqual(1);
    expect(ticks.some((t) => t > restartedAt)).toBe(true);
  }, 120_000);
});
