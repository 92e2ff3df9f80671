import { expect, test } from "bun:test";
import { type Hint, LocalBus } from "../../coordinator/bus/bus.ts";
import { RunSync } from "../../coordinator/runs/run-sync.ts";
import type { Scheduler } from "../../coordinator/runs/scheduler.ts";
import { Serial } from "../../coordinator/runs/serial.ts";

const turn = () => new Promise((resolve) => setImmediate(resolve));

test("a run's changes made in one turn go out as one hint naming them all; the row alone, or the whole run", async () => {
  const bus = new LocalBus();
  const sent: Hint[] = [];
  bus.subscribe("run_changed", (h) => void sent.push(h));
  const scheduler = { announce: () => {}, serial: new Serial() } as unknown as Scheduler;
  new RunSync(scheduler, bus, "n1", () => 2);

  scheduler.announce("r1", ["a1"]);
  scheduler.announce("r1", ["a2", "a1"]);
  scheduler.announce("r2", []);
  scheduler.announce("r3", ["a3"]);
  scheduler.announce("r3");
  expect(sent).toEqual([]);
  await turn();
  expect(sent).toEqual([
    { kind: "run_changed", runId: "r1", from: "n1", attempts: ["a1", "a2"] },
    { kind: "run_changed", runId: "r2", from: "n1", attempts: [] },
    { kind: "run_changed", runId: "r3", from: "n1" },
  ]);
  scheduler.announce("r1", ["a4"]);
  await turn();
  expect(sent.at(-1)).toEqual({ kind: "run_changed", runId: "r1", from: "n1", attempts: ["a4"] });
});

test("another node's hints arriving together are read in one pass: the attempts named, or the whole run", async () => {
  const bus = new LocalBus();
  const reads: string[] = [];
  const scheduler = {
    announce: () => {},
    serial: new Serial(),
    active: new Map([["r1", {}], ["r2", {}]]),
    readAttempts: async (id: string, named: string[]) => void reads.push(`${id}:${named.join(",")}`),
    read: async (id: string) => void reads.push(`${id}:whole`),
  } as unknown as Scheduler;
  new RunSync(scheduler, bus, "n1", () => 2);
  bus.publish({ kind: "run_changed", runId: "r1", from: "n2", attempts: ["a1"] });
  bus.publish({ kind: "run_changed", runId: "r1", from: "n3", attempts: ["a2"] });
  bus.publish({ kind: "run_changed", runId: "r2", from: "n2", attempts: ["a3"] });
  bus.publish({ kind: "run_changed", runId: "r2", from: "n2" });
  bus.publish({ kind: "run_changed", runId: "r3", from: "n1" });
  await turn();
  await scheduler.serial.run(async () => {});
  expect(reads).toEqual(["r1:a1,a2", "r2:whole"]);
});

test("a hint about a run this node has not read leaves it unread, for when its agents have room: it is not read at once", async () => {
  const bus = new LocalBus();
  const reads: string[] = [];
  const unread: string[] = [];
  const scheduler = {
    announce: () => {},
    serial: new Serial(),
    active: new Map([["known", {}]]),
    readAttempts: async (id: string, named: string[]) => void reads.push(`${id}:${named.join(",")}`),
    read: async (id: string) => void reads.push(`${id}:whole`),
    leaveUnread: (id: string) => void unread.push(id),
  } as unknown as Scheduler;
  new RunSync(scheduler, bus, "n1", () => 2);
  bus.publish({ kind: "run_changed", runId: "new", from: "n2" });
  bus.publish({ kind: "run_changed", runId: "other", from: "n2", attempts: ["a1"] });
  bus.publish({ kind: "run_changed", runId: "known", from: "n2", attempts: ["a2"] });
  await turn();
  await scheduler.serial.run(async () => {});
  expect(reads).toEqual(["known:a2"]);
  expect(unread).toEqual(["new", "other"]);
});
