import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { ADMIN_TOKEN, type Coordinator, type RunView } from "../helpers/cluster.ts";
import { follow, seqDigest, seqText } from "../helpers/follower.ts";
import { haveNats, type NatsServer } from "../helpers/nats-server.ts";
import { type NatsCluster, registrations, startNatsCluster } from "../helpers/nodes.ts";
import { killGroup, waitFor } from "../helpers/processes.ts";

const auth = { authorization: `Bearer ${ADMIN_TOKEN}`, "content-type": "application/json" };
const sha256 = (text: string) => new Bun.CryptoHasher("sha256").update(text).digest("hex");
/** the peak resident memory of a process, in MiB */
const peakRssMb = (pid: number) => Number(readFileSync(`/proc/${pid}/status`, "utf8").match(/VmHWM:\s+(\d+) kB/)![1]) / 1024;

/**
 * Step logs followed on every node of three (over NATS), while the one node holding the agent writes them:
 * each follower gets the same bytes, live; a follower whose node of passage dies resumes where it was.
 */
describe.skipIf(!haveNats)("step logs followed on every node", () => {
  let setup: NatsCluster;
  let nats: NatsServer;
  let nodes: Coordinator[];

  beforeAll(async () => {
    setup = await startNatsCluster(3, { DROVER_MAX_LOG_BYTES: "300M" });
    ({ nats, nodes } = setup);
    // the agent knows only node A: every log is written there
    await setup.cluster.startAgent("writer", ["--label", "role=writer"], nodes[0]!.url);
  }, 90_000);
  afterAll(() => setup?.stop());

  /** Submits on `node` (A by default); resolves once the run's first step runs, with the run's id. */
  async function submit(pipeline: string, node = nodes[0]!): Promise<string> {
    const res = await fetch(`${node.url}/api/v1/runs`, {
      method: "POST",
      headers: auth,
      body: JSON.stringify({ pipeline, group: "follow" }),
    });
    expect(res.status).toBe(201);
    const { id } = (await res.json()) as { id: string };
    await waitFor(
      "the first step to run",
      async () => {
        const run = (await (await fetch(`${node.url}/api/v1/runs/${id}`, { headers: auth })).json()) as RunView;
        return run.tasks[0]?.attempts[0]?.steps[0]?.status === "running";
      },
      20_000,
      50,
    );
    return id;
  }

  /** The run once it ended, as node B says (the tests kill only nodes of their own). */
  const ended = (id: string) =>
    waitFor(
      "the run to end",
      async () => {
        const node = nodes[1]!;
        const run = (await (await fetch(`${node.url}/api/v1/runs/${id}`, { headers: auth })).json()) as RunView;
        return run.phase === "finished" ? run : undefined;
      },
      60_000,
      100,
    );

  test("followers on A, B and C of a step not yet started get the same bytes, live; the whole-run log shows it running on every node", async () => {
    const part1 = seqText(1, 3000);
    // followers wait through step 0: with NATS live they learn that step 1's log is being written from a hint
    const id = await submit(
      "tasks:\n  talk:\n    labels: { role: writer }\n    steps:\n      - run: sleep 2\n      - run: seq 1 3000; sleep 3; seq 3001 6000\n",
    );
    const path = `/api/v1/runs/${id}/tasks/talk/steps/1/log?follow=1`;
    const followers = nodes.map((n) => follow(n.url, path, [part1.length]));
    for (const node of nodes.slice(1)) {
      const whole = await waitFor(
        "the whole-run log on another node to show the running step",
        async () => {
          const text = await (await fetch(`${node.url}/api/v1/runs/${id}/log`, { headers: auth })).text();
          return text.includes(part1) ? text : undefined;
        },
        10_000,
        100,
      );
      expect(whole).toMatch(/=== talk › step 2: .* \(attempt 1, running\)\n1\n2\n3\n/);
    }
    const results = await Promise.all(followers.map((f) => f.done));
    const doneAt = Date.now();
    const expected = sha256(seqText(1, 6000));
    for (const r of results) expect(r).toEqual({ status: 200, bytes: seqText(1, 6000).length, sha256: expected });
    // live: the first part came seconds before the end, not all at once when the step ended
    for (const f of followers) expect(doneAt - f.reached(part1.length)!).toBeGreaterThan(1500);
    await ended(id);
  }, 60_000);

  test("a follower on each node of a 200 MB log gets identical bytes, and no node holds it in memory", async () => {
    const lines = 25_000_000;
    const id = await submit(
      `tasks:\n  big:\n    labels: { role: writer }\n    steps:\n      - run: sleep 1\n      - run: seq 1 ${lines}\n`,
    );
    const startedAt = Date.now();
    const path = `/api/v1/runs/${id}/tasks/big/steps/1/log?follow=1`;
    const followers = nodes.map((n) => follow(n.url, path));
    const expected = seqDigest(lines);
    expect(expected.bytes).toBeGreaterThan(200 * 1024 * 1024);
    const results = await Promise.all(followers.map((f) => f.done));
    const seconds = (Date.now() - startedAt) / 1000;
    for (const r of results) expect(r).toEqual({ status: 200, ...expected });
    const peaks = nodes.map((n) => Math.round(peakRssMb(n.proc.pid)));
    console.log(
      `200 MB log followed on three nodes in ${seconds.toFixed(1)} s; peak RSS of nodes A, B, C: ${peaks.join(", ")} MiB`,
    );
    // a node that held the log (or any large part of it) in memory would pass 200 MiB above its start
    for (const peak of peaks) expect(peak).toBeLessThan(400);
    await ended(id);
  }, 180_000);

  for (const signal of ["SIGKILL", "SIGTERM"] as const) {
    test(`${signal === "SIGKILL" ? "kill -9 of" : "SIGTERM (a drain) of"} the node holding the agent mid-step: followers on the other nodes get the log byte-exact as the agent resends it elsewhere`, async () => {
      // two nodes of this test's own and an agent given only them, for this test's task alone
      const [d, e] = [await setup.addNode(), await setup.addNode()];
      const agent = await setup.cluster.startAgent(`roamer-${signal}`, ["--label", `role=roamer-${signal}`], `${d.url},${e.url}`);
      const held = registrations(agent.output()).at(-1)!;
      const writer = held === d.url ? d : e;
      const other = writer === d ? e : d;
      // 60,000 lines, a thousand every 0.1 s
      const id = await submit(
        `tasks:\n  moved:\n    labels: { role: roamer-${signal} }\n    steps:\n      - run: for i in $(seq 0 59); do seq $((i * 1000 + 1)) $((i * 1000 + 1000)); sleep 0.1; done\n`,
        writer,
      );
      const path = `/api/v1/runs/${id}/tasks/moved/steps/0/log?follow=1`;
      // A reads through the writer and, after the kill, through the node the agent moved to; the other node of
      // the two reads through the writer, then its own file
      const late = seqText(1, 50_000).length;
      const followers = [nodes[0]!, other].map((n) => follow(n.url, path, [late]));
      await waitFor(
        "the followers to be a third of the way",
        () => followers.every((f) => f.bytes > seqText(1, 20_000).length),
        20_000,
        10,
      );
      const reached = followers.map((f) => f.bytes);
      killGroup(writer.proc, signal);
      const results = await Promise.all(followers.map((f) => f.done));
      const doneAt = Date.now();
      const expected = seqText(1, 60_000);
      console.log(`followers had ${reached.join(" and ")} of ${expected.length} bytes when the node writing the log died`);
      for (const r of results) expect(r).toEqual({ status: 200, bytes: expected.length, sha256: sha256(expected) });
      // live again after the move: the last thousands of lines came as they were written, not all at the end
      for (const f of followers) expect(doneAt - f.reached(late)!).toBeGreaterThan(500);
      expect(registrations(agent.output()).at(-1)).toBe(other.url);
      const run = await ended(id);
      expect(run.result).toBe("success");
      expect(run.tasks[0]!.attempts).toHaveLength(1);
      killGroup(agent.proc, "SIGTERM");
    }, 90_000);
  }

  test("kill -9 of the node a follower reads through: the follower resumes from storage at the byte it reached", async () => {
    // a node of this test's own, D, and an agent given only it: the log is written there
    const d = await setup.addNode();
    const agent = await setup.cluster.startAgent("pinned", ["--label", "role=pinned"], d.url);
    const lines = 5_000_000;
    const id = await submit(
      `tasks:\n  cut:\n    labels: { role: pinned }\n    steps:\n      - run: sleep 1\n      - run: seq 1 ${lines}\n`,
      d,
    );
    const path = `/api/v1/runs/${id}/tasks/cut/steps/1/log?follow=1`;
    const followers = nodes.slice(1).map((n) => follow(n.url, path));
    await waitFor("the followers to start", () => followers.every((f) => f.bytes > 1024 * 1024), 20_000, 10);
    // the followers stop reading: what they have not read waits on node D (in its file, then in storage)
    for (const f of followers) f.pause();
    await ended(id);
    const expected = seqDigest(lines);
    const reached = followers.map((f) => f.bytes);
    expect(Math.max(...reached)).toBeLessThan(expected.bytes);
    killGroup(d.proc, "SIGKILL");
    await d.proc.exited;
    for (const f of followers) f.resume();
    const results = await Promise.all(followers.map((f) => f.done));
    console.log(
      `followers had ${reached.map((b) => (b / 1024 / 1024).toFixed(1)).join(" and ")} MiB of ${(expected.bytes / 1024 / 1024).toFixed(1)} when node D died`,
    );
    for (const r of results) expect(r).toEqual({ status: 200, ...expected });
    killGroup(agent.proc, "SIGTERM");
  }, 90_000);
});
