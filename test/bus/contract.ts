import { afterEach, describe, expect, test } from "bun:test";
import type { Bus, Hint } from "../../coordinator/bus/bus.ts";
import { waitFor } from "../helpers/processes.ts";

export interface BusFixture {
  /** a bus of a node; with `shared`, every bus made shares one transport, as the nodes of a cluster do */
  make(): Promise<Bus>;
  /** whether hints of one bus reach the others (false for the one-node bus) */
  shared: boolean;
}

const collect = <K extends Hint["kind"]>(bus: Bus, kind: K) => {
  const got: Hint[] = [];
  bus.subscribe(kind, (h) => got.push(h));
  return got;
};

/** What every Bus does, whatever carries its hints. */
export function runBusContract(name: string, fixture: () => BusFixture) {
  describe(`${name} bus contract`, () => {
    const opened: Bus[] = [];
    const open = async () => {
      const bus = await fixture().make();
      opened.push(bus);
      return bus;
    };
    afterEach(async () => {
      await Promise.all(opened.splice(0).map((b) => b.close()));
    });

    test("a node's own hint reaches its subscribers of that kind before publish returns, once, and not others", async () => {
      const bus = await open();
      const runEvents = collect(bus, "run_event");
      const logBytes = collect(bus, "log_bytes");
      bus.publish({ kind: "run_event", runId: "r1" });
      expect(runEvents).toEqual([{ kind: "run_event", runId: "r1" }]);
      expect(logBytes).toEqual([]);
      // an echo through the transport would come after a moment
      await Bun.sleep(200);
      expect(runEvents).toHaveLength(1);
    });

    test("every subscriber of a kind gets each hint in order; an unsubscribed one no longer does", async () => {
      const bus = await open();
      const first = collect(bus, "run_event");
      const second: Hint[] = [];
      const stop = bus.subscribe("run_event", (h) => second.push(h));
      bus.publish({ kind: "run_event", runId: "r1" });
      stop();
      bus.publish({ kind: "run_event", runId: "r1" });
      expect(first).toHaveLength(2);
      expect(second).toHaveLength(1);
    });

    test("a subscriber that throws neither reaches the publisher nor keeps the hint from the others", async () => {
      const bus = await open();
      bus.subscribe("log_bytes", () => {
        throw new Error("a broken subscriber");
      });
      const got = collect(bus, "log_bytes");
      expect(() => bus.publish({ kind: "log_bytes", attemptId: "a1", step: 0 })).not.toThrow();
      expect(got).toEqual([{ kind: "log_bytes", attemptId: "a1", step: 0 }]);
    });

    test("publishing after close neither throws nor delivers", async () => {
      const bus = await open();
      const got = collect(bus, "run_changed");
      await bus.close();
      expect(() => bus.publish({ kind: "run_changed", runId: "r", from: "n1" })).not.toThrow();
      expect(got).toEqual([]);
    });

    test("hints reach the other nodes' subscribers, each once and in order, and not back to the sender", async () => {
      const { shared } = fixture();
      const [a, b, c] = [await open(), await open(), await open()];
      await waitFor("the buses to be live", () => a.live && b.live && c.live, 10_000);
      const onA = collect(a, "log_bytes");
      const onB = collect(b, "log_bytes");
      const onC = collect(c, "log_bytes");
      const sent: Hint[] = Array.from({ length: 50 }, (_, i) => ({ kind: "log_bytes", attemptId: "att", step: i }));
      for (const h of sent) a.publish(h);
      if (!shared) {
        expect(onB).toEqual([]);
        return;
      }
      await waitFor("the hints to arrive", () => onB.length === 50 && onC.length === 50, 5000);
      await Bun.sleep(100);
      expect(onB).toEqual(sent);
      expect(onC).toEqual(sent);
      expect(onA).toEqual(sent);
    });
  });
}
