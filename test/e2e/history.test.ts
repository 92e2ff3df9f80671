import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { join } from "node:path";
import type { TaskStats } from "../../coordinator/history/stats.ts";
import { ADMIN_TOKEN, AGENT_TOKEN, type Cluster, ROOT, type RunView, startCluster } from "../helpers/cluster.ts";
import { spawnTracked, waitFor } from "../helpers/processes.ts";

interface Attempt {
  id: string;
  runId: string;
  taskName: string;
  number: number;
  agentName: string | null;
  state: string;
  exitCode: number | null;
  digest: string;
  readyAt: number;
  startedAt: number | null;
  keepaliveAt: number | null;
  endedAt: number | null;
  durationMs: number | null;
  cpuSeconds: number | null;
  peakRssBytes: number | null;
}

let cluster: Cluster | undefined;
// a1 and a2 run one pipeline, b a different build command; a1 fails on lint
const runs: Record<"a1" | "a2" | "b", string> = { a1: "", a2: "", b: "" };
const PIPELINE_A = "tasks:\n  build: { steps: [ { run: echo a } ] }\n  lint: { steps: [ { run: exit 3 } ] }\n";

/** when the runs above had ended: the tests below add runs of their own, in any order, and look before it */
let setupEnd = 0;

beforeAll(async () => {
  cluster = await startCluster();
  await cluster.startAgent("h1", ["--capacity", "2"]);
  for (const [key, pipeline] of [["a1", PIPELINE_A], ["a2", PIPELINE_A], ["b", "tasks:\n  build: { steps: [ { run: echo b } ] }\n"]] as const) {
    runs[key] = await cluster.submit(pipeline);
    await cluster.waitRun(runs[key]);
  }
  setupEnd = Date.now();
});
afterAll(() => cluster?.stop());

async function attempts(query: string, token = ADMIN_TOKEN): Promise<Attempt[]> {
  const res = await cluster!.api<{ attempts: Attempt[] }>("GET", `/api/v1/attempts?${query}`, undefined, token);
  expect(res.status, JSON.stringify(res.body)).toBe(200);
  return res.body.attempts;
}

const who = (rows: Attempt[]) => rows.map((a) => `${a.runId}:${a.taskName}`);

async function drover(...args: string[]) {
  const proc = spawnTracked(["bun", join(ROOT, "cli/main.ts"), ...args], { env: { DROVER_URL: cluster!.coordinator.url, DROVER_TOKEN: ADMIN_TOKEN } });
  const [stdout, stderr, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  return { code, stdout, stderr };
}

describe("GET /api/v1/attempts", () => {
  test("by task name, newest first, with agent, timestamps, duration, resources and digest", async () => {
    const rows = await attempts("name=build");
    expect(who(rows)).toEqual([`${runs.b}:build`, `${runs.a2}:build`, `${runs.a1}:build`]);
    for (const a of rows) {
      expect([a.state, a.number, a.exitCode, a.agentName]).toEqual(["success", 1, 0, "h1"]);
      // readyAt has a fraction, startedAt is a whole millisecond: the same one when the agent took it at once
      expect(a.startedAt).toBeGreaterThanOrEqual(Math.floor(a.readyAt));
      expect(a.keepaliveAt).toBeGreaterThanOrEqual(a.startedAt!);
      expect(a.durationMs).toBe(a.endedAt! - a.startedAt!);
      expect(a.cpuSeconds).toBeGreaterThanOrEqual(0);
      expect(a.peakRssBytes).toBeGreaterThan(0);
      expect(a.digest).toMatch(/^[0-9a-f]{64}$/);
    }
    expect(rows[1]!.digest).toBe(rows[2]!.digest);
    expect(rows[0]!.digest).not.toBe(rows[1]!.digest);
  });

  test("by command digest, by run, by state", async () => {
    const [, a2] = await attempts("name=build");
    expect(who(await attempts(`digest=${a2!.digest}`))).toEqual([`${runs.a2}:build`, `${runs.a1}:build`]);
    const a1 = await attempts(`run=${runs.a1}`);
    expect(a1.map((a) => [a.taskName, a.state, a.exitCode]).sort()).toEqual([
      ["build", "success", 0],
      ["lint", "failed", 3],
    ]);
    expect(who(await attempts(`state=failed&name=lint&until=${setupEnd}`))).toEqual([`${runs.a2}:lint`, `${runs.a1}:lint`]);
  });

  test("by readyAt window, alone or with a name, and with a limit", async () => {
    const a1 = await attempts(`run=${runs.a1}`);
    const a2 = await attempts(`run=${runs.a2}`);
    const [from, to] = [Math.min(...a1.map((a) => a.readyAt)), Math.max(...a1.map((a) => a.readyAt))];
    expect(who(await attempts(`since=${from}&until=${to}`)).sort()).toEqual(who(a1).sort());
    const since = Math.min(...a2.map((a) => a.readyAt));
    expect(who(await attempts(`name=build&since=${since}`))).toEqual([`${runs.b}:build`, `${runs.a2}:build`]);
    expect(who(await attempts(`limit=1&until=${setupEnd}`))).toEqual([`${runs.b}:build`]);
  });

  test("refuses bad filters, and is open to viewers but not to agents", async () => {
    for (const query of ["limit=1001", "limit=0", "since=yesterday"]) {
      expect((await cluster!.api("GET", `/api/v1/attempts?${query}`)).status).toBe(400);
    }
    const viewer = await cluster!.api<{ token: string }>("POST", "/api/v1/tokens", { user: "vera", role: "viewer" });
    expect((await attempts("name=build", viewer.body.token)).length).toBe(3);
    expect((await cluster!.api("GET", "/api/v1/attempts", undefined, AGENT_TOKEN)).status).toBe(403);
  });

  test("stats give each task name's count and p50/p95 over its successful attempts", async () => {
    const res = await cluster!.api<{ sample: number; stats: TaskStats[] }>("GET", "/api/v1/attempts/stats");
    expect(res.body.sample).toBe(1000);
    // the setup's build tasks; the other tests' runs name their tasks otherwise
    const build = res.body.stats.find((s) => s.name === "build");
    expect(build!.count).toBe(3);
    expect(build!.p50DurationMs).toBeLessThanOrEqual(build!.p95DurationMs!);
    expect(build!.p50PeakRssBytes).toBeGreaterThan(0);
    expect(build!.meanCpuSeconds).toBeGreaterThanOrEqual(0);
    const later = await cluster!.api<{ stats: { count: number }[] }>("GET", `/api/v1/attempts/stats?name=build&since=${Date.now() + 1000}`);
    expect(later.body.stats).toEqual([]);
  });
});

describe("GET /api/v1/runs by window and user", () => {
  test("since and until bound createdAt; user picks the submitter's runs", async () => {
    const view = async (id: string) => (await cluster!.api<{ createdAt: number }>("GET", `/api/v1/runs/${id}`)).body;
    const [a2, b] = [await view(runs.a2), await view(runs.b)];
    const list = async (q: string) => (await cluster!.api<{ runs: { id: string }[] }>("GET", `/api/v1/runs?${q}`)).body.runs.map((r) => r.id);
    expect(await list(`since=${a2.createdAt}&until=${b.createdAt}`)).toEqual([runs.b, runs.a2]);
    const alice = await cluster!.api<{ token: string }>("POST", "/api/v1/tokens", { user: "alice", role: "member" });
    const mine = await cluster!.api<{ id: string }>("POST", "/api/v1/runs", { pipeline: "tasks:\n  t: { steps: [ { run: 'true' } ] }\n" }, alice.body.token);
    await cluster!.waitRun(mine.body.id);
    expect(await list("user=alice")).toEqual([mine.body.id]);
    expect(await list(`user=admin&since=${a2.createdAt}&until=${b.createdAt}`)).toEqual([runs.b, runs.a2]);
  });
});

describe("the CLI", () => {
  test("drover tasks lists history as JSON or a table, and --stats the per-name figures", async () => {
    const json = await drover("tasks", "--name", "build", "--since", "1h", "--json");
    expect(json.code, json.stderr).toBe(0);
    expect(who(JSON.parse(json.stdout))).toEqual(who(await attempts("name=build")));
    const [, a2] = await attempts("name=build");
    const digest = await drover("tasks", "--digest", a2!.digest, "--limit", "1", "--json");
    expect(who(JSON.parse(digest.stdout))).toEqual([`${runs.a2}:build`]);
    const byRun = await drover("tasks", "--run", runs.a1);
    expect(byRun.stdout).toMatch(/^RUN +TASK +# +STATE +EXIT +AGENT/);
    expect(byRun.stdout).toMatch(new RegExp(`${runs.a1} +lint +1 +failed +3 +h1`));
    const stats = await drover("tasks", "--stats", "--name", "build");
    expect(stats.stdout).toMatch(/^TASK +COUNT +P50 +P95 +P50 RSS +P95 RSS +MEAN CPU\nbuild +3 +\S+s +\S+s +[\d.]+ \w+ +[\d.]+ \w+ +[\d.]+s\n$/);
    const statsJson = await drover("tasks", "--stats", "--json");
    expect((JSON.parse(statsJson.stdout) as { name: string }[]).find((s) => s.name === "build")).toMatchObject({ count: 3 });
    expect((await drover("tasks", "--since", "soon")).code).toBe(2);
    expect((await drover("tasks", "--stats", "--run", runs.a1)).code).toBe(2);
  });

  test("drover agents shows the fleet", async () => {
    const json = await drover("agents", "--json");
    expect(JSON.parse(json.stdout)).toMatchObject([{ name: "h1", capacity: 2, state: "online", connected: true }]);
    const table = await drover("agents");
    expect(table.stdout).toMatch(/^NAME +ARCHS +GROUP +LABELS +CAPACITY +RUNNING +STATE +VERSION +HEARTBEAT\nh1 +\S+ +\S+ +- +2 +0 +online +\S+ +\d+s ago\n$/);
  });

  test("drover approve lets a waiting task run", async () => {
    const id = await cluster!.submit("tasks:\n  gate: { approval: { min_approvers: 1 }, steps: [ { run: echo go } ] }\n");
    const status = async () => (await cluster!.api<RunView>("GET", `/api/v1/runs/${id}`)).body.tasks[0]!.status;
    await waitFor("the gate to wait", async () => (await status()) === "waiting_approval");
    expect((await drover("approve", id)).code).toBe(2);
    const approved = await drover("approve", id, "gate", "--json");
    expect(approved.code, approved.stderr).toBe(0);
    expect(JSON.parse(approved.stdout)).toEqual({ task: "gate", approvers: ["admin"] });
    expect((await cluster!.waitRun(id)).result).toBe("success");
    const again = await drover("approve", id, "gate");
    expect([again.code, again.stderr]).toEqual([1, expect.stringContaining("not running")]);
  });

  test("drover cancel stops a run", async () => {
    const id = await cluster!.submit("tasks:\n  long: { steps: [ { run: sleep 600 } ] }\n");
    await waitFor("the task to run", async () => (await attempts(`run=${id}`))[0]?.state === "running");
    const cancelled = await drover("cancel", id);
    expect([cancelled.code, cancelled.stdout]).toEqual([0, `cancel requested for run ${id}\n`]);
    expect((await cluster!.waitRun(id)).phase).toBe("cancelled");
    expect((await drover("cancel", id, "--json")).code).toBe(1);
  });

  test("drover restart --failed keeps what succeeded; stats still count that attempt once", async () => {
    // restart follows the new run and exits with its result: the kept failure fails it again
    const restarted = await drover("restart", runs.a1, "--failed", "--json");
    expect(restarted.code, restarted.stderr).toBe(1);
    const { id, result } = JSON.parse(restarted.stdout) as { id: string; result: string };
    expect(result).toBe("failed");
    expect((await attempts(`run=${id}&name=build`)).map((a) => a.readyAt)).toEqual((await attempts(`run=${runs.a1}&name=build`)).map((a) => a.readyAt));
    const stats = await cluster!.api<{ stats: { count: number }[] }>("GET", "/api/v1/attempts/stats?name=build");
    expect(stats.body.stats[0]!.count).toBe(3);
    // a run of its own, not named build: the stats the other tests read stay the setup's
    const again = await cluster!.submit("tasks:\n  again: { steps: [ { run: echo again } ] }\n");
    await cluster!.waitRun(again);
    const scratch = await drover("restart", again, "--no-follow");
    const fresh = scratch.stdout.match(/^run (\S+) restarts \S+ from scratch\n$/)?.[1];
    expect(fresh, scratch.stdout + scratch.stderr).toBeTruthy();
    expect((await cluster!.waitRun(fresh!)).result).toBe("success");
  });
});
