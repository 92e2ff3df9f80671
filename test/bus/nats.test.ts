import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { connect } from "@nats-io/transport-node";
import type { Hint } from "../../coordinator/bus/bus.ts";
import { NatsBus } from "../../coordinator/bus/nats.ts";
import { freePort, haveNats, type NatsServer, startNatsServer } from "../helpers/nats-server.ts";
import { waitFor } from "../helpers/processes.ts";
import { runBusContract } from "./contract.ts";

let server: NatsServer;

describe.skipIf(!haveNats)("NATS bus", () => {
  beforeAll(async () => {
    server = await startNatsServer();
  });
  afterAll(() => server?.stop());

  // subjects of their own: the other tests' hints never reach the contract's buses
  runBusContract("NATS", () => ({
    make: async () => new NatsBus({ url: server.url, prefix: "contract", maxBackoffMs: 200 }),
    shared: true,
  }));

  test("a malformed message on a hint subject is counted and dropped; hints after it still arrive", async () => {
    const bus = new NatsBus({ url: server.url, prefix: "bad", maxBackoffMs: 200 });
    const raw = await connect({ servers: server.url });
    try {
      await waitFor("the bus to be live", () => bus.live, 10_000);
      const got: Hint[] = [];
      bus.subscribe("run_event", (h) => got.push(h));
      // the server has the subscription once it is ready: a hint published before may reach nobody
      await new Promise<void>((ready) => bus.watchRunEvents("ok", ready));
      raw.publish("bad.hint.run_event.ok", "not json");
      raw.publish("bad.hint.run_event.ok", JSON.stringify({ kind: "run_event" }));
      raw.publish("bad.hint.run_event.ok", JSON.stringify({ kind: "run_event", runId: 7 }));
      // a valid hint of another kind on this kind's subject, and a valid hint of the kind on a subject not its own
      raw.publish("bad.hint.run_event.ok", JSON.stringify({ kind: "log_bytes", attemptId: "a1", step: 0 }));
      raw.publish("bad.hint.run_event", JSON.stringify({ kind: "run_event", runId: "ok" }));
      raw.publish("bad.hint.run_event.ok", "x".repeat(10_000));
      raw.publish("bad.hint.run_event.ok", JSON.stringify({ kind: "run_event", runId: "ok", extra: true }));
      await waitFor("the good hint", () => got.length === 1, 5000);
      expect(got).toEqual([{ kind: "run_event", runId: "ok" }]);
      expect(bus.dropped).toBe(6);
    } finally {
      await raw.close();
      await bus.close();
    }
  });

  test("a burst of one run's events reaches the other nodes as a few hints, the burst's end among them", async () => {
    const [a, b] = [new NatsBus({ url: server.url, prefix: "burst" }), new NatsBus({ url: server.url, prefix: "burst" })];
    try {
      await waitFor("the buses to be live", () => a.live && b.live, 10_000);
      const onB: Hint[] = [];
      b.subscribe("run_event", (h) => onB.push(h));
      await new Promise<void>((ready) => b.watchRunEvents("r1", ready));
      for (let i = 0; i < 1000; i++) a.publish({ kind: "run_event", runId: "r1" });
      // the first goes at once, the rest as one more once the period is over
      await waitFor("the burst's hints", () => onB.length >= 2, 5000);
      await Bun.sleep(300);
      expect(onB.length).toBeLessThan(10);
      // a later event, after a quiet period, still goes
      const before = onB.length;
      a.publish({ kind: "run_event", runId: "r1" });
      await waitFor("the later hint", () => onB.length === before + 1, 5000);
    } finally {
      await a.close();
      await b.close();
    }
  });

  test("a bus started before its server is not live, publishes into nothing, and goes live when the server comes", async () => {
    const port = freePort();
    const bus = new NatsBus({ url: `nats://127.0.0.1:${port}`, prefix: "late", maxBackoffMs: 200 });
    try {
      await Bun.sleep(300);
      expect(bus.live).toBe(false);
      const got: Hint[] = [];
      bus.subscribe("run_event", (h) => got.push(h));
      const at = performance.now();
      bus.publish({ kind: "run_event", runId: "r1" });
      expect(performance.now() - at).toBeLessThan(50);
      // its own subscribers hear it even so
      expect(got).toHaveLength(1);
      const late = await startNatsServer(port);
      try {
        await waitFor("the bus to connect", () => bus.live, 10_000);
      } finally {
        await late.stop();
      }
    } finally {
      await bus.close();
    }
  });

  test("nats-server stopped and started again: live goes false, then true, and hints flow again; nothing throws", async () => {
    const a = new NatsBus({ url: server.url, prefix: "restart", maxBackoffMs: 200 });
    const b = new NatsBus({ url: server.url, prefix: "restart", maxBackoffMs: 200 });
    try {
      await waitFor("the buses to be live", () => a.live && b.live, 10_000);
      const onB: Hint[] = [];
      b.subscribe("run_event", (h) => onB.push(h));
      await new Promise<void>((ready) => b.watchRunEvents(null, ready));
      a.publish({ kind: "run_event", runId: "before" });
      await waitFor("the first hint", () => onB.length === 1, 5000);

      for (const signal of ["SIGTERM", "SIGKILL"] as const) {
        await server.stop(signal);
        await waitFor("the buses to notice", () => !a.live && !b.live, 10_000);
        // dropped, at once, without throwing: nobody hears it on the other node
        const at = performance.now();
        for (let i = 0; i < 1000; i++) a.publish({ kind: "run_event", runId: "while-down" });
        expect(performance.now() - at).toBeLessThan(200);
        await server.start();
        const back = performance.now();
        await waitFor("the buses to be live again", () => a.live && b.live, 10_000);
        console.log(`NATS buses live again ${Math.round(performance.now() - back)} ms after nats-server restarted (${signal})`);
        a.publish({ kind: "run_event", runId: `after-${signal}` });
        await waitFor("the hint after the restart", () => onB.some((h) => h.kind === "run_event" && h.runId === `after-${signal}`), 5000);
      }
      expect(onB.filter((h) => h.kind === "run_event" && h.runId === "while-down")).toEqual([]);
    } finally {
      await a.close();
      await b.close();
    }
  }, 60_000);

  test("a nats-server that hangs (SIGSTOP) without closing anything: live goes false within seconds, and true once it answers again", async () => {
    const bus = new NatsBus({ url: server.url, prefix: "hung", maxBackoffMs: 200 });
    try {
      await waitFor("the bus to be live", () => bus.live, 10_000);
      server.signal("SIGSTOP");
      const stoppedAt = performance.now();
      try {
        // pings every 2 s, two unanswered: the connection is stale
        await waitFor("the bus to notice", () => !bus.live, 20_000, 50);
        console.log(`a hung nats-server noticed after ${Math.round(performance.now() - stoppedAt)} ms`);
        expect(() => bus.publish({ kind: "run_event", runId: "r1" })).not.toThrow();
      } finally {
        server.signal("SIGCONT");
      }
      await waitFor("the bus to be live again", () => bus.live, 20_000, 50);
    } finally {
      await bus.close();
    }
  }, 60_000);
});
