import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { ADMIN_TOKEN, type Coordinator } from "../helpers/cluster.ts";
import { haveNats, type NatsServer } from "../helpers/nats-server.ts";
import { type NatsCluster, startNatsCluster } from "../helpers/nodes.ts";
import { waitFor } from "../helpers/processes.ts";
import { type RunEvent, readEvents } from "../helpers/sse.ts";

const auth = { authorization: `Bearer ${ADMIN_TOKEN}`, "content-type": "application/json" };
// Bursts of events a few tenths of a second apart, at uneven times: a node polling every second would
// see most of them hundreds of milliseconds late, and not always equally late.
const PIPELINE = `tasks:
  a: { steps: [ { run: 'sleep 0.3' } ] }
  b: { depends: [a], steps: [ { run: 'sleep 0.7' } ] }
  c: { depends: [b], steps: [ { run: 'sleep 0.4' } ] }
  d: { depends: [c], steps: [ { run: 'sleep 0.9' } ] }
  e: { depends: [d], steps: [ { run: 'sleep 0.5' } ] }
`;
const finished = (e: RunEvent) => e.kind === "run" && ["finished", "failed", "cancelled", "setuperror", "error"].includes(e.phase ?? "");
/** what two nodes must agree on: everything but when this test received it */
const content = (events: RunEvent[]) => events.map(({ receivedAt: _, ...e }) => e);

/** A run's events followed on every node of three, over NATS and while nats-server is stopped. */
describe.skipIf(!haveNats)("run events on every node", () => {
  let setup: NatsCluster;
  let nats: NatsServer;
  let nodes: Coordinator[];

  beforeAll(async () => {
    setup = await startNatsCluster(3);
    ({ nats, nodes } = setup);
    // the run is driven by the node it is submitted to, and dispatched to that node's agents
    await setup.cluster.startAgent("worker", [], nodes[0]!.url);
  }, 90_000);
  afterAll(() => setup?.stop());

  /** Submits on node A and follows the run's events on all three nodes, and every run's on B. */
  async function followEverywhere(): Promise<{ perNode: RunEvent[][]; global: RunEvent[] }> {
    const [a, b] = [nodes[0]!, nodes[1]!];
    const res = await fetch(`${a.url}/api/v1/runs`, { method: "POST", headers: auth, body: JSON.stringify({ pipeline: PIPELINE, group: "events" }) });
    expect(res.status).toBe(201);
    const { id } = (await res.json()) as { id: string };
    const [global, ...perNode] = await Promise.all([
      readEvents(b.url, "/api/v1/events?after=0", (e) => e.run === id && finished(e), 30_000),
      ...nodes.map((n) => readEvents(n.url, `/api/v1/runs/${id}/events?after=0`, finished, 30_000)),
    ]);
    return { perNode, global: global.filter((e) => e.run === id) };
  }

  function check({ perNode, global }: { perNode: RunEvent[][]; global: RunEvent[] }, bound: number, what: string): void {
    const [onA, onB, onC] = perNode as [RunEvent[], RunEvent[], RunEvent[]];
    expect(onA.length).toBeGreaterThanOrEqual(8);
    expect(finished(onA.at(-1)!)).toBe(true);
    const seqs = onA.map((e) => e.seq);
    expect(seqs).toEqual([...seqs].sort((x, y) => x - y));
    expect(content(onB)).toEqual(content(onA));
    expect(content(onC)).toEqual(content(onA));
    // the global stream on B missed nothing, although no event of it was written on B
    expect(content(global)).toEqual(content(onA));
    // how late each event reached B and C after it was written on A (the streams opened as the run began)
    const worst = Math.max(...[...onB, ...onC].map((e) => e.receivedAt - e.at));
    console.log(`${what}: ${onA.length} events reached nodes B and C at most ${worst} ms after they were written on node A`);
    expect(worst).toBeLessThan(bound);
  }

  test("over NATS: B and C get every event of a run driven by A, in order, as they happen", async () => {
    // with NATS live the nodes poll only every 10 s: events hundreds of milliseconds late would mean the
    // hints did not come (a node polling every second fails this)
    for (const node of nodes) expect(node.output()).toContain("[bus] connected to NATS");
    // after the other test's restart of nats-server, every node is connected again: it said so as often as it
    // said it was cut off (the two go to different streams, so their order in the output means nothing)
    const count = (n: Coordinator, what: string) => n.output().split(`[bus] ${what}`).length - 1;
    const connected = (n: Coordinator) => count(n, "reconnected to NATS") >= count(n, "disconnected from NATS");
    await waitFor("every node to be connected to NATS", () => nodes.every(connected), 10_000, 50);
    check(await followEverywhere(), 600, "NATS live");
  }, 60_000);

  test("nats-server stopped: the nodes poll the events table and B and C still get every event within about a second", async () => {
    await nats.stop("SIGKILL");
    try {
      check(await followEverywhere(), 3000, "NATS stopped");
    } finally {
      await nats.start();
    }
  }, 60_000);
});
