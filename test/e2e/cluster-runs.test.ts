import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { ADMIN_TOKEN, type Cluster, type Coordinator, END_PHASES, type RunView, startCluster } from "../helpers/cluster.ts";
import { registrations, startNodes } from "../helpers/nodes.ts";
import { killGroup, waitFor } from "../helpers/processes.ts";

const auth = { authorization: `Bearer ${ADMIN_TOKEN}` };

async function on<T>(node: Coordinator, method: string, path: string, body?: unknown): Promise<{ status: number; body: T }> {
  const res = await fetch(`${node.url}${path}`, {
    method,
    headers: { ...auth, ...(body === undefined ? {} : { "content-type": "application/json" }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, body: (text.startsWith("{") || text.startsWith("[") ? JSON.parse(text) : text) as T };
}

async function submitOn(node: Coordinator, pipeline: string): Promise<string> {
  const res = await on<{ id: string }>(node, "POST", "/api/v1/runs", { pipeline, group: "cluster-runs" });
  expect(res.status).toBe(201);
  return res.body.id;
}

const waitEnd = (node: () => Coordinator, id: string, timeoutMs = 60_000) =>
  waitFor(
    `run ${id} to end`,
    async () => {
      const { body } = await on<RunView>(node(), "GET", `/api/v1/runs/${id}`);
      return END_PHASES.includes(body.phase) ? body : undefined;
    },
    timeoutMs,
    100,
  );

/**
 * Runs across three coordinators on one database: the node that created a run drives its engine under a lease,
 * agents on any node take its tasks, and another node takes the run over when its node dies.
 */
describe("runs across several coordinators", () => {
  let cluster: Cluster;
  let nodes: Coordinator[];
  const alive = (n: Coordinator) => n.proc.exitCode === null && n.proc.signalCode === null;
  const anyAlive = () => nodes.find(alive)!;
  /** another node on the same database and store, with a data dir of its own */
  const joinNode = (name: string, env: Record<string, string> = {}) =>
    cluster.startCoordinator({
      DROVER_DB_URL: `file:${join(cluster.dir, "cluster.db")}`,
      DROVER_STORAGE: `posix:${join(cluster.dir, "objects")}`,
      DROVER_DATA: join(cluster.dir, name),
      ...env,
    });

  beforeAll(async () => {
    cluster = await startCluster();
    // four: the kill -9 test ends one, and the tests run in any order, each on three that are alive
    nodes = await startNodes(cluster, 4);
  }, 90_000);
  afterAll(() => cluster?.stop());

  test("a run submitted to a node without agents runs on an agent of another node; a cancel asked of a third stops it", async () => {
    const [a, b, c] = nodes.filter(alive) as [Coordinator, Coordinator, Coordinator];
    const agent = await cluster.startAgent("only-b", [], b.url);
    const done = await waitEnd(() => a, await submitOn(a, "tasks:\n  t:\n    steps: [ { run: 'echo ran elsewhere' } ]\n"), 20_000);
    expect(done.result).toBe("success");
    expect(await (await fetch(`${c.url}/api/v1/runs/${done.id}/tasks/t/steps/0/log`, { headers: auth })).text()).toBe("ran elsewhere\n");

    const id = await submitOn(a, "tasks:\n  t:\n    steps: [ { run: 'echo started; sleep 60' } ]\n");
    await waitFor(
      "the step to run",
      async () => (await on<RunView>(c, "GET", `/api/v1/runs/${id}`)).body.tasks[0]?.attempts[0]?.steps[0]?.status === "running",
      20_000,
      100,
    );
    const asked = Date.now();
    expect((await on(c, "DELETE", `/api/v1/runs/${id}`)).status).toBe(409);
    expect((await on(c, "POST", `/api/v1/runs/${id}/cancel`)).status).toBe(202);
    const cancelled = await waitEnd(() => b, id, 20_000);
    console.log(`cancel asked of a third node ended the run in ${Date.now() - asked} ms`);
    expect(cancelled.phase).toBe("cancelled");
    expect(cancelled.tasks[0]!.attempts.map((x) => x.state)).toEqual(["stopped"]);
    killGroup(agent.proc, "SIGTERM");
  }, 60_000);

  test("a group's concurrency limit holds across nodes: runs submitted to three nodes at once never overlap", async () => {
    const [a, b, c] = nodes.filter(alive) as [Coordinator, Coordinator, Coordinator];
    expect((await on(a, "PUT", "/api/v1/groups/one-at-a-time", { concurrency: 1 })).status).toBe(200);
    const workers = [await cluster.startAgent("w-b", ["--capacity", "2"], b.url), await cluster.startAgent("w-c", ["--capacity", "2"], c.url)];
    const submit = (node: Coordinator) =>
      on<{ id: string }>(node, "POST", "/api/v1/runs", { pipeline: "tasks:\n  t:\n    steps: [ { run: 'sleep 1' } ]\n", group: "one-at-a-time" });
    const ids = (await Promise.all([a, b, c, a, b, c].map(submit))).map((r) => r.body.id);
    const runs = [];
    for (const id of ids) runs.push(await waitEnd(() => a, id, 60_000));
    expect(runs.map((r) => r.result)).toEqual(ids.map(() => "success"));
    const spans = runs
      .map((r) => r as unknown as { startedAt: number; endedAt: number })
      .sort((x, y) => x.startedAt - y.startedAt);
    for (let i = 1; i < spans.length; i++) expect(spans[i]!.startedAt).toBeGreaterThanOrEqual(spans[i - 1]!.endedAt);
    for (const w of workers) killGroup(w.proc, "SIGTERM");
  }, 90_000);

  test("a node started while others drive runs leaves their runs and agents alone", async () => {
    const [a, b] = nodes as [Coordinator, Coordinator];
    const agent = await cluster.startAgent("steady", [], b.url);
    const id = await submitOn(a, "tasks:\n  t:\n    steps: [ { run: 'echo begun; sleep 9; echo ended' } ]\n");
    await waitFor("the step to run", async () => (await on<string>(b, "GET", `/api/v1/runs/${id}/tasks/t/steps/0/log`)).body.includes("begun"), 20_000, 100);
    // a fourth node on the same database: it must not take the agent (held by B) as one of its own, whose lease
    // would lapse there (3 s: its own lease length, short so the step outlasts it) and lose the attempt while
    // the agent still runs it
    const late = await joinNode("late-node", { DROVER_LEASE_TTL_MS: "3000", DROVER_HEARTBEAT_MS: "1000" });
    const run = await waitEnd(() => late, id, 40_000);
    expect(run.result).toBe("success");
    expect(run.tasks[0]!.attempts.map((x) => x.state)).toEqual(["success"]);
    expect((await on<string>(late, "GET", `/api/v1/runs/${id}/tasks/t/steps/0/log`)).body).toBe("begun\nended\n");
    killGroup(late.proc, "SIGTERM");
    killGroup(agent.proc, "SIGTERM");
  }, 90_000);

  test("pause, resume and drain an agent through nodes it is not connected to", async () => {
    const [a, b, c] = nodes as [Coordinator, Coordinator, Coordinator];
    const agent = await cluster.startAgent("remote-controlled", [], b.url);
    const agentId = /registered as \S+ \((\S+)\)/.exec(agent.output())?.[1] ?? "";
    expect(agentId).not.toBe("");
    expect((await on<{ paused: boolean }>(a, "POST", `/api/v1/agents/${agentId}/pause`)).body.paused).toBe(true);
    const id = await submitOn(c, "tasks:\n  t:\n    steps: [ { run: 'echo resumed' } ]\n");
    await Bun.sleep(2500);
    // paused on the node holding it: nothing given to it
    expect((await on<RunView>(c, "GET", `/api/v1/runs/${id}`)).body.tasks[0]!.attempts.map((x) => x.state)).toEqual(["queued"]);
    expect((await on<{ paused: boolean }>(c, "POST", `/api/v1/agents/${agentId}/resume`)).body.paused).toBe(false);
    expect((await waitEnd(() => a, id, 20_000)).result).toBe("success");
    // removing it through another node is refused as it would be on its own: it is online
    expect((await on(a, "DELETE", `/api/v1/agents/${agentId}`)).status).toBe(409);
    expect((await on(c, "POST", `/api/v1/agents/${agentId}/drain`)).status).toBe(202);
    await waitFor("the drained agent to exit", () => agent.proc.exitCode !== null, 20_000, 100);
  }, 60_000);

  test("kill -9 of the node driving a run and holding its agent: the run finishes on the others, its log byte-exact, its task never run twice", async () => {
    const urls = nodes.map((n) => n.url).join(",");
    const agent = await cluster.startAgent("roamer", [], urls);
    const held = registrations(agent.output()).at(-1)!;
    const node = nodes.find((n) => n.url === held)!;
    const markers = join(cluster.dir, "markers");
    // each attempt appends the time to its own marker file every 100 ms: two attempts must never overlap
    const id = await submitOn(
      node,
      `tasks:\n  long:\n    steps:\n      - run: mkdir -p ${markers}; for i in $(seq 1 60); do echo "line $i"; date +%s%N >> ${markers}/$DROVER_ATTEMPT_ID; sleep 0.1; done\n`,
    );
    await waitFor(
      "the step to be half way",
      async () => (await on<string>(node, "GET", `/api/v1/runs/${id}/tasks/long/steps/0/log`)).body.includes("line 20"),
      20_000,
      100,
    );
    killGroup(node.proc, "SIGKILL");
    const killedAt = Date.now();
    const others = nodes.filter((n) => n !== node);
    // the tests run in any order: the ones after this get three live nodes again
    nodes[nodes.indexOf(node)] = await joinNode(`replacing-${Date.now()}`);
    const run = await waitEnd(() => others.find(alive) ?? anyAlive(), id, 60_000);
    console.log(`run finished ${Date.now() - killedAt} ms after kill -9 of the node driving it`);
    expect(run.result).toBe("success");
    expect(run.tasks[0]!.attempts).toHaveLength(1);
    const expected = Array.from({ length: 60 }, (_, i) => `line ${i + 1}\n`).join("");
    for (const other of others) {
      expect((await on<string>(other, "GET", `/api/v1/runs/${id}/tasks/long/steps/0/log`)).body).toBe(expected);
    }
    const files = readdirSync(markers);
    expect(files).toHaveLength(1);
    expect(readFileSync(join(markers, files[0]!), "utf8").trim().split("\n")).toHaveLength(60);
    killGroup(agent.proc, "SIGTERM");
  }, 120_000);
});
