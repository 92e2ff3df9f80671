import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { ADMIN_TOKEN, type Cluster, type Coordinator, END_PHASES, type RunView, startCluster } from "../helpers/cluster.ts";
import { haveNats, type NatsServer, startNatsServer } from "../helpers/nats-server.ts";
import { registrations, startNodes } from "../helpers/nodes.ts";
import { killGroup, waitFor } from "../helpers/processes.ts";
import { type S3rverHandle, startS3rver } from "../helpers/s3rver.ts";

const auth = { authorization: `Bearer ${ADMIN_TOKEN}` };
const LINES = 40;

async function get<T>(node: Coordinator, path: string): Promise<T> {
  const res = await fetch(`${node.url}${path}`, { headers: auth });
  const text = await res.text();
  return (text.startsWith("{") ? JSON.parse(text) : text) as T;
}

/** Three coordinators, NATS, s3rver and four agents given all three nodes: a node killed (-9) in the middle of many runs. */
describe.skipIf(!haveNats)("kill -9 of one of three coordinators mid-run", () => {
  let cluster: Cluster;
  let nats: NatsServer;
  let s3: S3rverHandle;
  let nodes: Coordinator[];
  const agents: { name: string; output: () => string }[] = [];

  beforeAll(async () => {
    nats = await startNatsServer();
    s3 = await startS3rver("drover-failover");
    cluster = await startCluster();
    nodes = await startNodes(cluster, 3, { DROVER_NATS_URL: nats.url, DROVER_STORAGE: s3.spec });
    const urls = nodes.map((n) => n.url).join(",");
    for (let i = 0; i < 4; i++) {
      const name = `ag${i}`;
      agents.push({ name, ...(await cluster.startAgent(name, ["--capacity", "2"], urls)) });
    }
  }, 120_000);
  afterAll(async () => {
    await cluster?.stop();
    await nats?.stop();
    await s3?.stop();
  });

  test("its runs finish on the others, its agents dispatch again within 5 s, every log byte-exact, no task run twice at once", async () => {
    const markers = join(cluster.dir, "markers");
    // every attempt appends the time to a file of its own every 50 ms while it runs
    const step = `mkdir -p ${markers}; for i in $(seq 1 ${LINES}); do echo "line $i"; date +%s%N >> ${markers}/$DROVER_ATTEMPT_ID; sleep 0.05; done`;
    const pipeline = `tasks:\n${["a", "b", "c"].map((t) => `  ${t}:\n    steps: [ { run: ${JSON.stringify(step)} } ]\n`).join("")}`;
    const ids: string[] = [];
    for (let r = 0; r < 6; r++) {
      const res = await fetch(`${nodes[r % 3]!.url}/api/v1/runs`, {
        method: "POST",
        headers: { ...auth, "content-type": "application/json" },
        body: JSON.stringify({ pipeline, group: "failover" }),
      });
      expect(res.status).toBe(201);
      ids.push(((await res.json()) as { id: string }).id);
    }
    // mid-run: steps running on every agent
    await waitFor("steps to run", async () => existsSync(markers) && readdirSync(markers).length >= 6, 30_000, 50);
    // the node holding the most agents dies, as the agents say: the cluster's list counts them at each node's
    // beat (once a second), so agents registered in the last second are not in it yet
    const holding = (node: Coordinator) => agents.filter((a) => registrations(a.output()).at(-1) === node.url);
    const victim = [...nodes].sort((x, y) => holding(y).length - holding(x).length)[0]!;
    const moving = holding(victim);
    const seen = new Map(moving.map((a) => [a.name, registrations(a.output()).length]));
    killGroup(victim.proc, "SIGKILL");
    const killedAt = Date.now();
    const survivors = nodes.filter((n) => n !== victim);
    await waitFor("its agents to register with other nodes", () => moving.every((a) => registrations(a.output()).length > seen.get(a.name)!), 10_000, 50);
    const reattachMs = Date.now() - killedAt;
    // a new run on a surviving node is dispatched at once, on whatever agent is free
    const probe = await fetch(`${survivors[0]!.url}/api/v1/runs`, {
      method: "POST",
      headers: { ...auth, "content-type": "application/json" },
      body: JSON.stringify({ pipeline: "tasks:\n  probe:\n    steps: [ { run: 'echo probe' } ]\n", group: "failover-probe" }),
    });
    const probeId = ((await probe.json()) as { id: string }).id;
    const runs: RunView[] = [];
    for (const id of [...ids, probeId]) {
      runs.push(
        await waitFor(
          `run ${id} to end`,
          async () => {
            const run = await get<RunView>(survivors[0]!, `/api/v1/runs/${id}`);
            return END_PHASES.includes(run.phase) ? run : undefined;
          },
          90_000,
          200,
        ),
      );
    }
    console.log(`${moving.length} agent(s) of the killed node re-registered ${reattachMs} ms after kill -9; all runs done ${Date.now() - killedAt} ms after`);
    expect(moving.length).toBeGreaterThan(0);
    expect(reattachMs).toBeLessThan(5000);
    expect(runs.map((r) => r.result)).toEqual(runs.map(() => "success"));
    const expected = Array.from({ length: LINES }, (_, i) => `line ${i + 1}\n`).join("");
    const attemptsOf = new Map<string, string[]>();
    for (const run of runs.slice(0, ids.length)) {
      for (const task of run.tasks) {
        // resumed, not run again: the attempt an agent of the dead node was running went on after it moved
        expect(task.attempts).toHaveLength(1);
        attemptsOf.set(`${run.id}/${task.name}`, task.attempts.map((a) => (a as unknown as { id: string }).id));
        for (const node of survivors) expect(await get<string>(node, `/api/v1/runs/${run.id}/tasks/${task.name}/steps/0/log`)).toBe(expected);
      }
    }
    // no task's attempts overlapped in time: each marker file's span is apart from its siblings'
    for (const attempts of attemptsOf.values()) {
      const spans = attempts
        .map((id) => readFileSync(join(markers, id), "utf8").trim().split("\n").map(Number))
        .map((ts) => [Math.min(...ts), Math.max(...ts)] as const)
        .sort((x, y) => x[0] - y[0]);
      for (let i = 1; i < spans.length; i++) expect(spans[i]![0]).toBeGreaterThan(spans[i - 1]![1]);
      for (const id of attempts) expect(readFileSync(join(markers, id), "utf8").trim().split("\n")).toHaveLength(LINES);
    }
  }, 180_000);
});
