import { expect, test } from "bun:test";
import { type Bus, LocalBus } from "../../coordinator/bus/bus.ts";
import { RunEvents } from "../../coordinator/runs/run-events.ts";

/** A bus that records which runs' events the node asked for, and lets the test say when each watch is ready. */
class WatchingBus extends LocalBus {
  readonly watched = new Map<string | null, () => void>();
  override watchRunEvents(runId: string | null, ready: () => void): () => void {
    expect(this.watched.has(runId)).toBe(false);
    this.watched.set(runId, ready);
    return () => this.watched.delete(runId);
  }
}

test("a node asks for a run's events from the others while someone watches it, once however many watch", () => {
  const bus = new WatchingBus();
  const events = new RunEvents(bus as Bus);
  const stopA = events.subscribe("r1", () => {});
  const stopB = events.subscribe("r1", () => {});
  const stopAll = events.subscribe(null, () => {});
  expect([...bus.watched.keys()]).toEqual(["r1", null]);
  stopA();
  stopA();
  expect([...bus.watched.keys()]).toEqual(["r1", null]);
  stopB();
  stopAll();
  expect([...bus.watched.keys()]).toEqual([]);
  // watched again after the last watcher left: asked for again
  events.subscribe("r1", () => {});
  expect([...bus.watched.keys()]).toEqual(["r1"]);
});

test("once a watch is ready its watchers look again: a hint sent before it may have been missed", () => {
  const bus = new WatchingBus();
  const events = new RunEvents(bus as Bus);
  const woken: string[] = [];
  events.subscribe("r1", () => woken.push("r1"));
  events.subscribe("r2", () => woken.push("r2"));
  events.subscribe(null, () => woken.push("all"));
  bus.watched.get("r1")!();
  expect(woken).toEqual(["r1", "all"]);
  bus.watched.get(null)!();
  expect(woken).toEqual(["r1", "all", "all"]);
});
