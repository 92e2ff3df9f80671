import { expect, test } from "bun:test";
import { type Bus, LocalBus } from "../../coordinator/bus/bus.ts";
import { Polling } from "../../coordinator/bus/poll.ts";

/** A shared bus whose connection the test turns on and off. */
class Switchable implements Bus {
  on = true;
  private readonly local = new LocalBus();
  get live(): boolean {
    return this.on;
  }
  publish: Bus["publish"] = (hint) => this.local.publish(hint);
  subscribe: Bus["subscribe"] = (kind, handler) => this.local.subscribe(kind, handler);
  watchRunEvents: Bus["watchRunEvents"] = () => () => {};
  close = () => this.local.close();
}

const counting = (polling: Polling) => {
  const calls: number[] = [];
  const stop = polling.every("test", async () => {
    calls.push(Date.now());
  });
  return { calls, stop };
};

test("a node alone never polls; one with peers and no NATS polls every period, never twice at once", async () => {
  let peers = 0;
  const polling = new Polling(new LocalBus(), { peers: () => peers, everyMs: 100, safetyMs: 10_000 });
  const { calls, stop } = counting(polling);
  await Bun.sleep(350);
  expect(calls).toHaveLength(0);
  expect(polling.period).toBeNull();
  peers = 2;
  await Bun.sleep(1050);
  stop();
  // about every 100 ms (the timer checks every 100 ms here): never more often than the period
  expect(calls.length).toBeGreaterThanOrEqual(4);
  expect(calls.length).toBeLessThanOrEqual(11);
  for (let i = 1; i < calls.length; i++) expect(calls[i]! - calls[i - 1]!).toBeGreaterThanOrEqual(95);
});

test("with a bus: polls while it is down, once more as it comes back, then only at the safety period", async () => {
  const bus = new Switchable();
  const polling = new Polling(bus, { peers: () => 1, everyMs: 100, safetyMs: 60_000 });
  const { calls, stop } = counting(polling);
  await Bun.sleep(300);
  expect(calls).toHaveLength(0);
  bus.on = false;
  expect(polling.needed).toBe(true);
  await Bun.sleep(550);
  const whileDown = calls.length;
  expect(whileDown).toBeGreaterThanOrEqual(3);
  bus.on = true;
  await Bun.sleep(400);
  stop();
  // the catch-up read as it came back, then nothing more
  expect(calls.length).toBeGreaterThanOrEqual(whileDown);
  expect(calls.length).toBeLessThanOrEqual(whileDown + 1);
});

test("a re-read that fails is logged and tried again at the next period", async () => {
  const polling = new Polling(new LocalBus(), { peers: () => 1, everyMs: 100 });
  let tries = 0;
  const stop = polling.every("failing", async () => {
    tries++;
    throw new Error("database away");
  });
  await Bun.sleep(450);
  stop();
  expect(tries).toBeGreaterThanOrEqual(2);
});
