import { expect, test } from "bun:test";
import { heartbeatSlots } from "../../coordinator/fleet/heartbeat-slots.ts";
import { type HeartbeatClock, scheduleHeartbeats } from "../../shared/protocol/heartbeat-schedule.ts";
import { heartbeatSeq } from "../../shared/protocol/agent-messages.ts";
import { readIdleFrame } from "../../shared/protocol/idle-frames.ts";

test("heartbeat slots divide the interval, are at most a second and a quarter of the lease TTL apart", () => {
  expect(heartbeatSlots(5000, 15_000).slotMs).toBe(1000);
  expect(heartbeatSlots(500, 3000).slotMs).toBe(500);
  expect(heartbeatSlots(1000, 2000).slotMs).toBe(500);
  expect(heartbeatSlots(150, 600).slotMs).toBe(150);
  const odd = heartbeatSlots(5500, 15_000).slotMs;
  expect(odd).toBeLessThanOrEqual(1000);
  expect(Number.isInteger(5500 / odd)).toBe(true);
});

test("an agent welcomed at any moment beats on one of the node's instants, and the leases are flushed just after it", () => {
  const slots = heartbeatSlots(5000, 15_000);
  for (const now of [1_700_000_000_000, 1_700_000_000_001, 1_700_000_000_999, 1_700_000_000_500]) {
    const first = slots.firstHeartbeatIn(now);
    expect(first).toBeGreaterThan(0);
    expect(first).toBeLessThanOrEqual(1000);
    expect((now + first) % 1000).toBe(0);
    const flushIn = slots.nextFlushIn(now);
    expect(flushIn).toBeGreaterThan(0);
    expect(flushIn).toBeLessThanOrEqual(1000);
    expect((now + flushIn) % 1000).toBe(100);
  }
});

/** Timers that fire when the test moves the time, `late` ms after they are due. */
function fakeClock(late = 0) {
  let time = 0;
  let due: { at: number; fire: () => void } | null = null;
  const clock: HeartbeatClock = {
    now: () => time,
    setTimeout: (fire, ms) => (due = { at: time + ms, fire }),
    clearTimeout: () => (due = null),
  };
  const runUntil = (end: number) => {
    while (due && due.at + late <= end) {
      const { at, fire } = due;
      due = null;
      time = Math.max(time, at + late);
      fire();
    }
    time = end;
  };
  return { clock, runUntil, stall: (ms: number) => (time += ms) };
}

test("heartbeats go first after the welcome's delay, then every interval from it, however late each timer fires", () => {
  const { clock, runUntil } = fakeClock(7);
  const beats: number[] = [];
  scheduleHeartbeats({ heartbeatMs: 1000, firstHeartbeatMs: 300 }, () => beats.push(clock.now()), clock);
  runUntil(10_000);
  expect(beats).toEqual([307, 1307, 2307, 3307, 4307, 5307, 6307, 7307, 8307, 9307]);
});

test("without a delay in the welcome the first heartbeat comes an interval after it; stopped, none come", () => {
  const { clock, runUntil } = fakeClock();
  const beats: number[] = [];
  const stop = scheduleHeartbeats({ heartbeatMs: 1000 }, () => beats.push(clock.now()), clock);
  runUntil(2500);
  stop();
  runUntil(5000);
  expect(beats).toEqual([1000, 2000]);
});

test("an agent that could not run past several beats sends one, then keeps to its instants", () => {
  const { clock, runUntil, stall } = fakeClock();
  const beats: number[] = [];
  scheduleHeartbeats({ heartbeatMs: 1000, firstHeartbeatMs: 200 }, () => beats.push(clock.now()), clock);
  runUntil(1500);
  stall(3000);
  runUntil(6500);
  expect(beats).toEqual([200, 1200, 4500, 5200, 6200]);
});

test("a welcome's first-heartbeat delay is optional, and when given a whole number of ms", () => {
  const welcome = { type: "welcome", agentId: "a", heartbeatMs: 5000, leaseTtlMs: 15_000, resume: [] };
  expect(readIdleFrame(welcome)).not.toBeNull();
  expect(readIdleFrame({ ...welcome, firstHeartbeatMs: 0 })).not.toBeNull();
  expect(readIdleFrame({ ...welcome, firstHeartbeatMs: 120 })).not.toBeNull();
  expect(readIdleFrame({ ...welcome, firstHeartbeatMs: -1 })).toBeNull();
  expect(readIdleFrame({ ...welcome, firstHeartbeatMs: 1.5 })).toBeNull();
  expect(readIdleFrame({ ...welcome, firstHeartbeatMs: "soon" })).toBeNull();
});

test("a plain heartbeat is read by hand; anything else is left to the schemas and their errors", () => {
  expect(heartbeatSeq('{"type":"heartbeat","seq":0}')).toBe(0);
  expect(heartbeatSeq(JSON.stringify({ type: "heartbeat", seq: 123456789 }))).toBe(123456789);
  for (const text of [
    '{"type":"heartbeat","seq":-1}',
    '{"type":"heartbeat","seq":1.5}',
    '{"type":"heartbeat","seq":"1"}',
    '{"type":"heartbeat"}',
    '{"type":"heartbeat","seq":1',
    '{"type":"heartbeat","seq":1,"type":"draining"}',
    `{"type":"heartbeat","seq":1,"pad":"${"x".repeat(100)}"}`,
    '{"type":"draining"}',
  ]) {
    expect(heartbeatSeq(text)).toBeNull();
  }
});
