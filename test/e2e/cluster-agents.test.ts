import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { ADMIN_TOKEN, type Cluster, type Coordinator, type RunView, startCluster } from "../helpers/cluster.ts";
import { clusterView, registrations, startNodes } from "../helpers/nodes.ts";
import { killGroup, waitFor } from "../helpers/processes.ts";

const auth = { authorization: `Bearer ${ADMIN_TOKEN}` };

/** An agent given three coordinators moves to another when its node is killed or drained. */
describe("an agent given several coordinators", () => {
  let cluster: Cluster;
  let nodes: Coordinator[];
  let agent: { output: () => string };

  beforeAll(async () => {
    cluster = await startCluster();
    nodes = await startNodes(cluster, 3);
    agent = await cluster.startAgent("roamer", [], nodes.map((n) => n.url).join(","));
  }, 90_000);
  afterAll(() => cluster?.stop());

  const nodeAt = (url: string) => nodes.find((n) => n.url === url)!;
  const alive = (n: Coordinator) => n.proc.exitCode === null && n.proc.signalCode === null;

  test("kill -9 of its node mid-step: it registers with another node within 5 s", async () => {
    // the node it is with now: the other test may have moved it already
    const regs = registrations(agent.output());
    const first = regs[regs.length - 1]!;
    const node = nodeAt(first);
    // the run goes to the node holding the agent: a run's state lives in the memory of the node it was submitted to
    const res = await fetch(`${node.url}/api/v1/runs`, {
      method: "POST",
      headers: { ...auth, "content-type": "application/json" },
      body: JSON.stringify({ pipeline: "tasks:\n  long:\n    steps: [ { run: 'echo started; sleep 30' } ]", group: "move" }),
    });
    expect(res.status).toBe(201);
    const { id } = (await res.json()) as { id: string };
    await waitFor(
      "the step to run",
      async () => {
        const run = (await (await fetch(`${node.url}/api/v1/runs/${id}`, { headers: auth })).json()) as RunView;
        return run.tasks[0]?.attempts[0]?.steps[0]?.status === "running";
      },
      20_000,
      100,
    );
    killGroup(node.proc, "SIGKILL");
    const killedAt = Date.now();
    const moved = await waitFor(
      "the agent to register with another node",
      () =>
        registrations(agent.output())
          .slice(regs.length)
          .find((u) => u !== first),
      10_000,
      50,
    );
    const reattachMs = Date.now() - killedAt;
    console.log(`agent reattached to ${moved} ${reattachMs} ms after kill -9 of ${first}`);
    expect(reattachMs).toBeLessThan(5000);
    // the node it moved to counts it among its agents at its next beat
    const view = await waitFor(
      "the new node to list the agent",
      async () => {
        const v = await clusterView(nodeAt(moved));
        return v.nodes.find((n) => n.url === moved)?.agents === 1 ? v : undefined;
      },
      3000,
      100,
    );
    expect(view.nodes.find((n) => n.url === moved)!.alive).toBe(true);
  }, 60_000);

  test("a node stopped with SIGTERM sends its agents to another node before it exits", async () => {
    const regs = registrations(agent.output());
    const current = regs[regs.length - 1]!;
    const node = nodeAt(current);
    expect(alive(node)).toBe(true);
    const stoppedAt = Date.now();
    killGroup(node.proc, "SIGTERM");
    const moved = await waitFor(
      "the agent to move",
      () =>
        registrations(agent.output())
          .slice(regs.length)
          .find((u) => u !== current),
      5000,
      50,
    );
    const moveMs = Date.now() - stoppedAt;
    console.log(`agent moved from draining ${current} to ${moved} in ${moveMs} ms`);
    expect(agent.output()).toContain("connection closed (4010 the coordinator is stopping)");
    expect(alive(nodeAt(moved))).toBe(true);
    expect(moveMs).toBeLessThan(2000);
  }, 30_000);
});
