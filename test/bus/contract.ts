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

    test("the same hint published many times in one turn reaches the other nodes once", async () => {
      const [a, b] = [await open(), await open()];
      await waitFor("the buses to be live", () => a.live && b.live, 10_000);
      const onA = collect(a, "run_changed");
      const onB = collect(b, "run_changed");
      const hint: Hint = { kind: "run_changed", runId: "r", from: "a", attempts: ["x"] };
      for (let i = 0; i < 10; i++) a.publish(hint);
      a.publish({ ...hint, attempts: ["y"] });
      expect(onA).toHaveLength(11);
      if (!fixture().shared) return;
      await waitFor("the hints to arrive", () => onB.length === 2, 5000);
      await Bun.sleep(100);
      expect(onB).toEqual([hint, { ...hint, attempts: ["y"] }]);
    });

    test("a run's events reach the nodes that watch it or every run, until they stop watching", async () => {
      if (!fixture().shared) return;
      const [a, b, c, d] = [await open(), await open(), await open(), await open()];
      await waitFor("the buses to be live", () => [a, b, c, d].every((x) => x.live), 10_000);
      const [onB, onC, onD] = [collect(b, "run_event"), collect(c, "run_event"), collect(d, "run_event")];
      const watch = (bus: Bus, runId: string | null) => {
        let stop = () => {};
        return new Promise<() => void>((ready) => {
          stop = bus.watchRunEvents(runId, () => ready(stop));
        });
      };
      // two watchers of r1 on b: b hears r1 until both stopped
      const [stopB, stopB2] = [await watch(b, "r1"), await watch(b, "r1")];
      await watch(c, null);
      a.publish({ kind: "run_event", runId: "r1" });
      a.publish({ kind: "run_event", runId: "r2" });
      await waitFor("the hints to arrive", () => onB.length === 1 && onC.length === 2, 5000);
      stopB();
      a.publish({ kind: "run_event", runId: "r1" });
      await waitFor("the hint to arrive", () => onB.length === 2 && onC.length === 3, 5000);
      stopB2();
      stopB2();
      // the unsubscription has reached the server once a later subscription of b's is ready
      await watch(b, "other");
      a.publish({ kind: "run_event", runId: "r1" });
      await waitFor("the hint to arrive", () => onC.length === 4, 5000);
      await Bun.sleep(100);
      expect(onB).toEqual([{ kind: "run_event", runId: "r1" }, { kind: "run_event", runId: "r1" }]);
      expect(onD).toEqual([]);
    });
  });
}
