import { expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import type { RunView } from "../helpers/cluster.ts";
import { agentOnNodes, nodeApi, nodeLog, waitRunOn, s3NodesPerFile } from "../helpers/nodes.ts";
import { killGroup, waitFor } from "../helpers/processes.ts";

// Two coordinators on one database and one bucket. A step's end is acknowledged to its agent only once the step's log
// is in the bucket: a node killed before it stored the log leaves the agent holding the bytes, which it sends again.
const files = s3NodesPerFile("drover-log-store");

test("kill -9 of the agent's node between a step's end and its log's move to the bucket: the agent sends the log to the other node", async () => {
  const { cluster, nodes, s3 } = files;
  const { agent, held, other } = await agentOnNodes(cluster, nodes, "mover");
  const go = join(cluster.dir, "go");
  const { id } = await nodeApi<{ id: string }>(held, "POST", "/api/v1/runs", {
    group: "log-store",
    pipeline: `tasks:
  t:
    steps:
      - run: seq 1 200000 && while [ ! -e ${go} ]; do sleep 0.02; done
      - run: seq 5
`,
  });
  const steps = async () => (await nodeApi<RunView>(other, "GET", `/api/v1/runs/${id}`)).tasks[0]?.attempts[0]?.steps ?? [];
  await waitFor("the first step to run", async () => (await steps())[0]?.status === "running", 30_000, 20);
  // the bucket hangs: the first step's log cannot leave the node holding its bytes
  s3.pause();
  try {
    writeFileSync(go, "");
    // The agent sends the next step's start after the first step's end, and the node applies them in order: the
    // second step running means the node has the first one's end, and its log is not stored.
    await waitFor("the second step to start", async () => (await steps())[1]?.status !== "pending", 30_000, 20);
    expect((await steps())[0]?.status).toBe("running");
    killGroup(held.proc, "SIGKILL");
  } finally {
    s3.resume();
  }
  const run = await waitRunOn(other, id, 60_000);
  expect(run.result).toBe("success");
  expect(run.tasks[0]!.attempts).toHaveLength(1);
  expect(run.tasks[0]!.attempts[0]!.steps.map((s) => s.status)).toEqual(["success", "success"]);
  const seq = (n: number) => Array.from({ length: n }, (_, i) => `${i + 1}\n`).join("");
  expect(await nodeLog(other, id, "t", 0)).toBe(seq(200000));
  expect(await nodeLog(other, id, "t", 1)).toBe(seq(5));
  killGroup(agent.proc, "SIGTERM");
}, 120_000);
