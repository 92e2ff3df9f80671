import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { ADMIN_TOKEN, type Cluster, type Coordinator, startCluster } from "../helpers/cluster.ts";
import { startNodes } from "../helpers/nodes.ts";
import { waitFor } from "../helpers/processes.ts";
import { type RunEvent, readEvents } from "../helpers/sse.ts";

const auth = { authorization: `Bearer ${ADMIN_TOKEN}` };
const lines = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => `line ${from + i}\n`).join("");

/** A running step's log, asked of a node other than the one its agent is connected to. */
describe("a live log on another node", () => {
  let cluster: Cluster;
  let nodes: Coordinator[];

  beforeAll(async () => {
    cluster = await startCluster();
    nodes = await startNodes(cluster, 2);
    // the agent knows only node A: the log is written there
    await cluster.startAgent("writer", [], nodes[0]!.url);
  }, 90_000);
  afterAll(() => cluster?.stop());

  test("node B shows the part written so far and follows it to the end, byte-exact", async () => {
    const [a, b] = [nodes[0]!, nodes[1]!];
    const res = await fetch(`${a.url}/api/v1/runs`, {
      method: "POST",
      headers: { ...auth, "content-type": "application/json" },
      body: JSON.stringify({
        pipeline: `tasks:
  long:
    steps:
      - run: for i in $(seq 1 3000); do echo "line $i"; done; sleep 4; for i in $(seq 3001 6000); do echo "line $i"; done`,
        group: "live",
      }),
    });
    const { id } = (await res.json()) as { id: string };
    const path = `/api/v1/runs/${id}/tasks/long/steps/0/log`;
    const onB = await waitFor(
      "node B to show the first 3,000 lines",
      async () => {
        const r = await fetch(`${b.url}${path}`, { headers: auth });
        const text = r.status === 200 ? await r.text() : "";
        return text.length >= lines(1, 3000).length ? text : undefined;
      },
      20_000,
      100,
    );
    expect(onB).toBe(lines(1, 3000));
    const followed = await fetch(`${b.url}${path}?follow=1`, { headers: auth });
    expect(followed.status).toBe(200);
    expect(await followed.text()).toBe(lines(1, 6000));
    // once the step ends its log is in the shared store: every node reads it alike
    const run = await waitFor(
      "the run to end",
      async () => {
        const r = (await (await fetch(`${b.url}/api/v1/runs/${id}`, { headers: auth })).json()) as {
          phase: string;
          result: string;
        };
        return r.phase === "finished" ? r : undefined;
      },
      20_000,
      100,
    );
    expect(run.result).toBe("success");
    for (const node of [a, b]) expect(await (await fetch(`${node.url}${path}`, { headers: auth })).text()).toBe(lines(1, 6000));
  }, 60_000);

  test("without NATS, node B sends the same events of a run driven by A, polling the events table", async () => {
    const [a, b] = [nodes[0]!, nodes[1]!];
    const res = await fetch(`${a.url}/api/v1/runs`, {
      method: "POST",
      headers: { ...auth, "content-type": "application/json" },
      body: JSON.stringify({ pipeline: "tasks:\n  one: { steps: [ { run: 'sleep 0.6' } ] }\n  two: { depends: [one], steps: [ { run: 'sleep 0.3' } ] }\n", group: "events" }),
    });
    const { id } = (await res.json()) as { id: string };
    const last = (e: RunEvent) => e.kind === "run" && e.phase === "finished";
    const [onA, onB] = await Promise.all([a, b].map((n) => readEvents(n.url, `/api/v1/runs/${id}/events?after=0`, last, 20_000)));
    const content = (events: RunEvent[]) => events.map(({ receivedAt: _, ...e }) => e);
    expect(onA!.length).toBeGreaterThanOrEqual(6);
    expect(content(onB!)).toEqual(content(onA!));
    const worst = Math.max(...onB!.map((e) => e.receivedAt - e.at));
    console.log(`without NATS, events reached node B at most ${worst} ms after they were written`);
    expect(worst).toBeLessThan(3000);
  }, 30_000);

  test("a node asked for a log on another's behalf answers 404 unless it holds it live", async () => {
    // a run of its own, ended: its log is in the shared store, live nowhere
    const res = await fetch(`${nodes[0]!.url}/api/v1/runs`, {
      method: "POST",
      headers: { ...auth, "content-type": "application/json" },
      body: JSON.stringify({ pipeline: "tasks:\n  long:\n    steps: [ { run: 'echo stored' } ]\n", group: "forwarded" }),
    });
    const { id } = (await res.json()) as { id: string };
    await waitFor(
      "the run to end",
      async () => ((await (await fetch(`${nodes[1]!.url}/api/v1/runs/${id}`, { headers: auth })).json()) as { phase: string }).phase === "finished",
      20_000,
      100,
    );
    const path = `${nodes[1]!.url}/api/v1/runs/${id}/tasks/long/steps/0/log`;
    expect(await (await fetch(path, { headers: auth })).text()).toBe("stored\n");
    const r = await fetch(path, { headers: { ...auth, "x-drover-forwarded-by": "another-node" } });
    expect(r.status).toBe(404);
    expect(await r.text()).toContain("a live log of step 0 on this node");
  });
});
