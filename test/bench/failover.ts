import { ADMIN_TOKEN, type Coordinator, type RunView, startCluster } from "../helpers/cluster.ts";
import { registrations, startNodes } from "../helpers/nodes.ts";
import { killGroup, waitFor } from "../helpers/processes.ts";
import type { Benchmark } from "./lib.ts";

const KILLS = 2;

/**
 * `failover_s`: three coordinators on one libSQL file and an agent given all three; the agent's node is killed
 * (-9), and the clock runs until the agent is registered with another node and a new task runs there. Twice
 * (three nodes, then two); the figure is the slower.
 */
export const failover: Benchmark = {
  name: "failover",
  async run() {
    const cluster = await startCluster();
    try {
      const nodes = await startNodes(cluster, 3);
      const agent = await cluster.startAgent("roamer", [], nodes.map((n) => n.url).join(","));
      const nodeAt = (url: string) => nodes.find((n) => n.url === url) as Coordinator;
      const samples: number[] = [];
      for (let k = 0; k < KILLS; k++) {
        const seen = registrations(agent.output());
        const current = seen[seen.length - 1]!;
        const killedAt = performance.now();
        killGroup(nodeAt(current).proc, "SIGKILL");
        const next = await waitFor("the agent to move", () => registrations(agent.output()).slice(seen.length)[0], 10_000, 10);
        const node = nodeAt(next);
        const headers = { authorization: `Bearer ${ADMIN_TOKEN}`, "content-type": "application/json" };
        const res = await fetch(`${node.url}/api/v1/runs`, {
          method: "POST",
          headers,
          // short: an attempt resumes on the agent's new node, so a long one would hold its slot at the next kill
          body: JSON.stringify({ pipeline: "tasks:\n  after:\n    steps: [ { run: 'sleep 0.5' } ]", group: `failover-${k}` }),
        });
        const { id } = (await res.json()) as { id: string };
        await waitFor(
          "a new task to run on the node it moved to",
          async () => {
            const run = (await (await fetch(`${node.url}/api/v1/runs/${id}`, { headers })).json()) as RunView;
            return ["running", "success"].includes(run.tasks[0]?.attempts[0]?.steps[0]?.status ?? "");
          },
          20_000,
          10,
        );
        samples.push((performance.now() - killedAt) / 1000);
        await waitFor(
          "the task to end before the next kill",
          async () => (await (await fetch(`${node.url}/api/v1/runs/${id}`, { headers })).json() as RunView).phase === "finished",
          20_000,
          50,
        );
      }
      console.error(`failover samples: ${samples.map((s) => s.toFixed(2)).join(", ")} s`);
      return { failover_s: { value: Number(Math.max(...samples).toFixed(2)), unit: "s", target: "≤ 5 s" } };
    } finally {
      await cluster.stop();
    }
  },
};
