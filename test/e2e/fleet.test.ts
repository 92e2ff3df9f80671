import { afterEach, describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { keptCheckoutsDir, ownDir } from "../../agent/own-dir.ts";
import { type Cluster, killAndRestartCoordinator, type RunView, startCluster } from "../helpers/cluster.ts";
import { killGroup, liveProcesses, waitFor } from "../helpers/processes.ts";
import { startTcpProxy } from "../helpers/tcp-proxy.ts";

const FAST_LEASES = { DROVER_HEARTBEAT_MS: "300", DROVER_LEASE_TTL_MS: "1500", DROVER_RECONNECT_GRACE_MS: "1500" };
let clusters: Cluster[] = [];
async function cluster(env: Record<string, string> = {}): Promise<Cluster> {
  const c = await startCluster({ ...FAST_LEASES, ...env });
  clusters.push(c);
  return c;
}
afterEach(async () => {
  for (const c of clusters) await c.stop();
  clusters = [];
});

const taskOf = (run: RunView, name: string) => run.tasks.find((t) => t.name === name)!;
interface AgentView {
  id: string;
  name: string;
  state: string;
  archs: string[];
  group: string;
  labels: Record<string, string>;
  capacity: number;
  version: string;
  lastHeartbeatAt: number;
  running: string[];
}
const agentsOf = async (c: Cluster) => (await c.api<{ agents: AgentView[] }>("GET", "/api/v1/agents")).body.agents;
/**
 * Until the agent has accepted the task's first attempt, so a signal sent to it now finds the step running. The
 * agents list is no proof: it counts an attempt from when the dispatcher chose the agent, before it is sent.
 */
const untilAccepted = (c: Cluster, id: string, task: string) =>
  waitFor(`task ${task} to run`, async () => taskOf((await c.api<RunView>("GET", `/api/v1/runs/${id}`)).body, task).attempts[0]?.state === "running");

describe("leases and lost agents", () => {
  test("a lapsed lease makes the agent offline, its attempt lost with its partial log kept, and retried elsewhere", async () => {
    const c = await cluster();
    const doomed = await c.startAgent("doomed", ["--label", "first=yes"]);
    const id = await c.submit(`tasks:
  t:
    steps:
      - run: 'echo "start on $DROVER_AGENT"; if [ "$DROVER_AGENT" = doomed ]; then sleep 600; fi; echo done'
`);
    await waitFor("the step to start on doomed", async () => (await c.log(id, "t", 0)).includes("start on doomed"));
    await c.startAgent("rescuer");
    killGroup(doomed.proc, "SIGKILL");
    const run = await c.waitRun(id, 20_000);
    expect(run.result).toBe("success");
    const attempts = taskOf(run, "t").attempts;
    expect(attempts.map((a) => a.state)).toEqual(["lost", "success"]);
    expect(attempts[0]!.steps[0]!.status).toBe("lost");
    const first = await fetch(`${c.coordinator.url}/api/v1/runs/${id}/tasks/t/steps/0/log?attempt=1`, {
      headers: { authorization: "Bearer test-admin-token" },
    });
    expect(await first.text()).toBe("start on doomed\n");
    expect(await c.log(id, "t", 0)).toBe("start on rescuer\ndone\n");
    const doomedRow = (await agentsOf(c)).find((a) => a.name === "doomed")!;
    expect(doomedRow.state).toBe("offline");
  });

  test("dynamic agents: a sibling ends the dead one's orphans and removes its workspaces, kept ones and kept work trees too; its record goes", async () => {
    // a closed connection lapses sooner than the lease its watchdog keeps to, as by default
    const c = await cluster({ DROVER_RECONNECT_GRACE_MS: "600" });
    const shared = join(c.dir, "shared-work");
    const marker = `drover-orphan-${Date.now()}`;
    const doomed = await c.startAgent("dyn-a", ["--dynamic", "--group", "pool", "--work-dir", shared]);
    // k saves a workspace, which dyn-a keeps for a restore there (none comes)
    const id = await c.submit(
      `tasks:\n  k:\n    group: pool\n    steps:\n      - run: echo kept > k.txt\n      - save_to_workspace: { paths: [k.txt] }\n  t:\n    group: pool\n    depends: [k]\n    steps:\n      - run: 'if [ "$DROVER_AGENT" = dyn-a ]; then echo > mine; exec -a ${marker} sleep 600; fi; echo ok'\n`,
    );
    const run0 = await waitFor("the attempt to run on dyn-a", async () => {
      const run = (await c.api<RunView>("GET", `/api/v1/runs/${id}`)).body;
      return taskOf(run, "t").attempts[0]?.state === "running" ? run : undefined;
    });
    const attemptId = (taskOf(run0, "t").attempts[0] as unknown as { id: string }).id;
    const workspace = join(shared, "attempts", attemptId);
    await waitFor("the orphan-to-be to run", () => liveProcesses(marker) === 1);
    expect(await Bun.file(join(workspace, "mine")).exists()).toBe(true);
    const [doomedId] = readdirSync(join(shared, "kept"));
    const keptFiles = () => Number(Bun.spawnSync(["bash", "-c", `find '${join(shared, "kept", doomedId!)}' -type f 2>/dev/null | wc -l`]).stdout.toString());
    expect(keptFiles()).toBe(1);
    // a work tree dyn-a kept for its next checkout of a repository (agent/checkout/kept-trees.ts), as it lays them out
    const keptTree = join(keptCheckoutsDir(shared, "dyn-a"), "repo", "entry", "tree");
    mkdirSync(keptTree, { recursive: true });
    writeFileSync(join(keptTree, "file"), "x");
    killGroup(doomed.proc, "SIGKILL"); // the agent dies; its task's process group lives on as an orphan
    await doomed.proc.exited;
    await Bun.sleep(100); // no event marks "still alive": a short window for a death tied to the agent's to show
    expect(liveProcesses(marker)).toBe(1);
    await c.startAgent("dyn-b", ["--dynamic", "--group", "pool", "--work-dir", shared]);
    // the record goes when the lease lapses, which is before the dead agent's watchdog ends its step
    await waitFor("the orphan to be ended", () => liveProcesses(marker) === 0);
    expect((await agentsOf(c)).map((a) => a.name)).not.toContain("dyn-a");
    const run = await c.waitRun(id, 20_000);
    expect(run.result).toBe("success");
    expect(taskOf(run, "t").attempts.map((a) => a.state)).toEqual(["lost", "success"]);
    await waitFor("the orphan to be ended", () => liveProcesses(marker) === 0);
    await waitFor("the workspace to be removed", async () => !(await Bun.file(join(workspace, "mine")).exists()));
    await waitFor("the kept workspace to be removed", () => !existsSync(join(shared, "kept", doomedId!)));
    await waitFor("the kept work trees to be removed", () => !existsSync(keptCheckoutsDir(shared, "dyn-a")));
    // its identity and lease stay for an agent of its name that may start on this work root
    expect(existsSync(join(ownDir(shared, "dyn-a"), "lease"))).toBe(true);
    const names = (await agentsOf(c)).map((a) => a.name);
    expect(names).toEqual(["dyn-b"]);
  });
});

describe("placement", () => {
  test("capacity is never exceeded: 40 tasks on two agents of capacity 2", async () => {
    const c = await cluster();
    await c.startAgent("p1", ["--capacity", "2"]);
    await c.startAgent("p2", ["--capacity", "2"]);
    // 40: each slot refilled about ten times, and few enough that a loaded machine runs them well within the
    // test's time (100 took over 60 s once, beside the cluster load test); test/inproc/run-commands.test.ts puts 48
    // through fake agents across a coordinator restart
    const tasks = Array.from({ length: 40 }, (_, i) => `  t${i}: { steps: [ { run: 'sleep 0.0$((RANDOM % 5))' } ] }`).join("\n");
    const id = await c.submit(`tasks:\n${tasks}\n`);
    const run = await c.waitRun(id, 60_000);
    expect(run.result).toBe("success");
    const spans = run.tasks.map((t) => {
      const a = t.attempts[0] as unknown as { agentId: string; assignedAt: number; endedAt: number };
      return { agent: a.agentId, start: a.assignedAt, end: a.endedAt };
    });
    const maxConcurrent = (list: typeof spans) => {
      const edges = list.flatMap((s) => [
        [s.start, 1],
        [s.end, -1],
      ]);
      edges.sort((a, b) => a[0]! - b[0]! || a[1]! - b[1]!);
      let now = 0;
      let max = 0;
      for (const [, d] of edges) {
        now += d!;
        max = Math.max(max, now);
      }
      return max;
    };
    expect(maxConcurrent(spans)).toBeLessThanOrEqual(4);
    expect(maxConcurrent(spans)).toBeGreaterThanOrEqual(3);
    for (const agent of new Set(spans.map((s) => s.agent))) {
      expect(maxConcurrent(spans.filter((s) => s.agent === agent))).toBeLessThanOrEqual(2);
    }
  });

  test("a task that restores a workspace goes to the free agent that saved it, which moves the kept files into place", async () => {
    const c = await cluster();
    // ids follow registration: with both idle, "first" would win the tie
    await c.startAgent("first", ["--capacity", "2"]);
    await c.startAgent("second", ["--capacity", "2", "--label", "role=builder"]);
    const id = await c.submit(`tasks:
  build: { labels: { role: builder }, steps: [ { run: 'mkdir -p out && echo built > out/a.txt' }, { save_to_workspace: { paths: ['out/**'] } } ] }
  use: { depends: [build], steps: [ { restore_workspace: {} }, { run: 'cat out/a.txt' } ] }
`);
    const run = await c.waitRun(id, 30_000);
    expect(run.result).toBe("success");
    const agentOf = (task: string) => (taskOf(run, task).attempts[0] as unknown as { agentId: string }).agentId;
    expect(agentOf("use")).toBe(agentOf("build"));
    expect(await c.log(id, "use", 0)).toBe("restored the workspace of build: 1 file, moved from the copy kept on this agent\n");
    expect(await c.log(id, "use", 1)).toBe("built\n");
  });

  test("resources and labels: tasks go where they fit, one 2-cpu task at a time on a 2-cpu agent", async () => {
    const c = await cluster();
    await c.startAgent("small", ["--capacity", "4", "--cpu", "2", "--label", "disk=ssd"]);
    const id = await c.submit(`tasks:
  a: { resources: { cpu: 2 }, steps: [ { run: sleep 0.3 } ] }
  b: { resources: { cpu: 2 }, steps: [ { run: sleep 0.3 } ] }
  c: { labels: { disk: ssd }, steps: [ { run: echo "$DROVER_AGENT" } ] }
`);
    const run = await c.waitRun(id);
    expect(run.result).toBe("success");
    const [a, b] = ["a", "b"].map((n) => taskOf(run, n).attempts[0] as unknown as { assignedAt: number; endedAt: number });
    expect(a!.endedAt <= b!.assignedAt || b!.endedAt <= a!.assignedAt).toBe(true);
    const big = await c.submit("tasks:\n  huge: { resources: { cpu: 64 }, steps: [ { run: 'true' } ] }\n");
    const message = await waitFor("the unplaceable message", async () => {
      const r = (await c.api<{ tasks: { statusMessage: string | null }[] }>("GET", `/api/v1/runs/${big}`)).body;
      return r.tasks[0]!.statusMessage ?? undefined;
    });
    expect(message).toContain("cpu=64");
  });
});

describe("reconnects", () => {
  test("logs stay byte-exact while the connection is cut mid-stream several times", async () => {
    const c = await cluster({ DROVER_LEASE_TTL_MS: "10000", DROVER_RECONNECT_GRACE_MS: "10000" });
    const port = Number(new URL(c.coordinator.url).port);
    const proxy = startTcpProxy(port);
    try {
      await c.startAgent("flaky", [], `http://127.0.0.1:${proxy.port}`);
      const id = await c.submit(
        "tasks:\n  stream:\n    steps:\n      - run: 'for i in $(seq 1 40); do seq $((i*1000)) $((i*1000+2999)); sleep 0.05; done'\n",
      );
      let cuts = 0;
      for (let i = 0; i < 4; i++) {
        await Bun.sleep(350);
        cuts += proxy.cut();
      }
      expect(cuts).toBeGreaterThanOrEqual(3);
      const run = await c.waitRun(id, 30_000);
      expect(run.result).toBe("success");
      expect(taskOf(run, "stream").attempts.length).toBe(1);
      const expected = Bun.spawnSync(["bash", "-c", "for i in $(seq 1 40); do seq $((i*1000)) $((i*1000+2999)); done"]).stdout.toString();
      expect(await c.log(id, "stream", 0)).toBe(expected);
    } finally {
      proxy.stop();
    }
  });

  test("a run started before a kill -9 of the coordinator finishes after its restart with complete logs", async () => {
    // Leases long enough for the agent's backoff to find the restarted coordinator, on a loaded machine too.
    const patient = { ...FAST_LEASES, DROVER_LEASE_TTL_MS: "10000", DROVER_RECONNECT_GRACE_MS: "10000" };
    const c = await cluster(patient);
    await c.startAgent("survivor");
    const id = await c.submit(
      "tasks:\n  a: { steps: [ { run: 'for i in $(seq 1 30); do echo \"a $i\"; sleep 0.1; done' } ] }\n  b: { depends: [a], steps: [ { run: echo b } ] }\n",
    );
    await waitFor("output to start", async () => (await c.log(id, "a", 0)).includes("a 3"));
    await killAndRestartCoordinator(c, patient);
    const run = await c.waitRun(id, 30_000);
    expect(run.result).toBe("success");
    expect(taskOf(run, "a").attempts.length).toBe(1);
    expect(await c.log(id, "a", 0)).toBe(Array.from({ length: 30 }, (_, i) => `a ${i + 1}\n`).join(""));
    expect(await c.log(id, "b", 0)).toBe("b\n");
  });
});

describe("drain and one-shot", () => {
  test("SIGTERM drains: the running attempt finishes, nothing new starts, the agent exits 0", async () => {
    const c = await cluster();
    const agent = await c.startAgent("drainee");
    const id = await c.submit("tasks:\n  a: { steps: [ { run: 'sleep 1; echo finished' } ] }\n");
    await untilAccepted(c, id, "a");
    agent.proc.kill("SIGTERM");
    await waitFor("draining state", async () => (await agentsOf(c))[0]!.state === "draining");
    const later = await c.submit("tasks:\n  b: { steps: [ { run: echo b } ] }\n");
    expect(await agent.proc.exited).toBe(0);
    const run = await c.waitRun(id);
    expect(run.result).toBe("success");
    expect(await c.log(id, "a", 0)).toBe("finished\n");
    const waiting = (await c.api<RunView>("GET", `/api/v1/runs/${later}`)).body;
    expect(taskOf(waiting, "b").attempts.every((a) => a.state === "queued")).toBe(true);
  });

  test("a second SIGTERM cancels running attempts; --once exits after one attempt; remote drain", async () => {
    const c = await cluster({ DROVER_CANCEL_GRACE_MS: "500" });
    const agent = await c.startAgent("impatient");
    const id = await c.submit("tasks:\n  a: { steps: [ { run: sleep 600 } ] }\n");
    await untilAccepted(c, id, "a");
    agent.proc.kill("SIGTERM");
    await waitFor("draining state", async () => (await agentsOf(c))[0]!.state === "draining");
    agent.proc.kill("SIGTERM");
    expect(await agent.proc.exited).toBe(0);
    const run = await c.waitRun(id);
    expect(taskOf(run, "a").attempts[0]!.state).toBe("stopped");

    const once = await c.startAgent("once", ["--once"]);
    const two = await c.submit("tasks:\n  x: { steps: [ { run: echo x } ] }\n  y: { depends: [x], steps: [ { run: echo y } ] }\n");
    expect(await once.proc.exited).toBe(0);
    // the agent exits once its attempt's result is stored; the task's status follows at the run's next advance
    await waitFor("task x to succeed", async () => taskOf((await c.api<RunView>("GET", `/api/v1/runs/${two}`)).body, "x").status === "success");
    // y became ready as x's result freed the agent's slot: it waits for another agent, it was not sent to this one
    await Bun.sleep(500);
    const y = taskOf((await c.api<RunView>("GET", `/api/v1/runs/${two}`)).body, "y");
    expect(y.attempts.map((a) => a.state)).toEqual(["queued"]);

    const remote = await c.startAgent("remote");
    const remoteId = (await agentsOf(c)).find((a) => a.name === "remote")!.id;
    expect((await c.api("POST", `/api/v1/agents/${remoteId}/drain`)).status).toBe(202);
    expect(await remote.proc.exited).toBe(0);
    await waitFor("the drained agent to go offline", async () => (await agentsOf(c)).find((a) => a.id === remoteId)?.state === "offline");
    expect((await c.api("DELETE", `/api/v1/agents/${remoteId}`)).status).toBe(200);
  });
});

describe("agent status and secrets", () => {
  test("agents list name, archs, group, labels, capacity, state, version and heartbeat", async () => {
    const c = await cluster();
    await c.startAgent("status", ["--arch", "amd64,arm64", "--group", "g1", "--label", "k=v", "--capacity", "3"]);
    const [a] = await agentsOf(c);
    expect(a).toMatchObject({ name: "status", archs: ["amd64", "arm64"], group: "g1", labels: { k: "v" }, capacity: 3, state: "online" });
    expect(a!.version).toBeTruthy();
    expect(Date.now() - a!.lastHeartbeatAt).toBeLessThan(10_000);
  });

  test("secret-looking env values never reach the log", async () => {
    const c = await cluster();
    await c.startAgent("redact");
    const id = await c.submit(`env: { API_TOKEN: "tok-abc-123" }
tasks:
  t:
    env: { DB_PASSWORD: "pw-xyz-789" }
    steps:
      - run: 'echo "token=$API_TOKEN"; printf "pw=pw-xyz"; sleep 0.1; echo "-789 end"'
`);
    await c.waitRun(id);
    expect(await c.log(id, "t", 0)).toBe("token=[REDACTED]\npw=[REDACTED] end\n");
  });
});

describe("uploads of a dead agent", () => {
  test("an agent that vanishes mid-upload has its upload aborted when its lease lapses; nothing half-written stays", async () => {
    const c = await cluster();
    const proxy = startTcpProxy(Number(new URL(c.coordinator.url).port));
    try {
      const doomed = await c.startAgent("vanishing", ["--label", "first=yes"], `http://127.0.0.1:${proxy.port}`);
      const id = await c.submit(`tasks:
  t:
    steps:
      - run: 'head -c 300000000 /dev/urandom > blob'
      - save_to_workspace: { paths: [blob] }
`);
      await waitFor("the attempt to run", async () => (await agentsOf(c)).some((a) => a.name === "vanishing" && a.running.length === 1));
      const before = proxy.bytesUp();
      await waitFor("the upload to be under way", () => proxy.bytesUp() - before > 20_000_000, 30_000);
      proxy.freeze();
      killGroup(doomed.proc, "SIGKILL");
      await waitFor("the upload to be aborted", () => c.coordinator.output().includes("aborted 1 unfinished upload(s) of vanishing"), 15_000);
      await c.startAgent("rescuer");
      const run = await c.waitRun(id, 60_000);
      expect(run.result).toBe("success");
      expect(taskOf(run, "t").attempts.map((a) => a.state)).toEqual(["lost", "success"]);
      const temp = Bun.spawnSync(["bash", "-c", `ls -A ${join(c.dir, "data", "objects", ".tmp")} 2>/dev/null | wc -l`]);
      expect(temp.stdout.toString().trim()).toBe("0");
      const archives = Bun.spawnSync(["bash", "-c", `find ${join(c.dir, "data", "objects", "workspaces")} -type f | wc -l`]);
      expect(archives.stdout.toString().trim()).toBe("1");
    } finally {
      proxy.stop();
    }
  });
});
