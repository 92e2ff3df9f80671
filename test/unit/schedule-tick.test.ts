import { describe, expect, test } from "bun:test";
import { dueTick, nextTick } from "../../coordinator/triggers/tick.ts";

const at = (iso: string) => Date.parse(iso);
const everySecond = { cron: "*/1 * * * * *", createdAt: at("2024-01-01T12:00:00.500Z") };
const hourly = { cron: "0 * * * *", createdAt: at("2024-01-01T09:30:00Z") };

describe("dueTick", () => {
  test("nothing is due before the first occurrence after creation", () => {
    expect(dueTick(everySecond, null, at("2024-01-01T12:00:00.900Z"))).toBeNull();
    expect(dueTick(hourly, null, at("2024-01-01T09:59:59.999Z"))).toBeNull();
  });

  test("an occurrence is due from its own instant on", () => {
    expect(dueTick(everySecond, null, at("2024-01-01T12:00:01Z"))).toBe(at("2024-01-01T12:00:01Z"));
    expect(dueTick(hourly, null, at("2024-01-01T10:00:00.300Z"))).toBe(at("2024-01-01T10:00:00Z"));
  });

  test("a tick already run is not due again", () => {
    const tick = at("2024-01-01T10:00:00Z");
    expect(dueTick(hourly, tick, at("2024-01-01T10:00:00.400Z"))).toBeNull();
    expect(dueTick(hourly, tick, at("2024-01-01T10:59:59Z"))).toBeNull();
    expect(dueTick(hourly, tick, at("2024-01-01T11:00:00Z"))).toBe(at("2024-01-01T11:00:00Z"));
  });

  test("after an outage only the most recent missed tick is due", () => {
    const last = at("2024-01-01T10:00:00Z");
    expect(dueTick(hourly, last, at("2024-01-01T15:20:00Z"))).toBe(at("2024-01-01T15:00:00Z"));
    expect(dueTick(everySecond, at("2024-01-01T12:00:03Z"), at("2024-01-01T12:00:09.700Z"))).toBe(at("2024-01-01T12:00:09Z"));
  });

  test("a pass that came late runs every tick since the previous pass looked, oldest first, each once", () => {
    let last = at("2024-01-01T12:00:03Z");
    const [looked, now] = [at("2024-01-01T12:00:03.500Z"), at("2024-01-01T12:00:09.700Z")];
    const due: string[] = [];
    for (let tick = dueTick(everySecond, last, now, looked); tick !== null; tick = dueTick(everySecond, last, now, looked)) {
      due.push(new Date(tick).toISOString().slice(17, 19));
      last = tick;
    }
    expect(due).toEqual(["04", "05", "06", "07", "08", "09"]);
  });

  test("once that tick is recorded, the outage's other ticks never come due", () => {
    let last = at("2024-01-01T10:00:00Z");
    const due: number[] = [];
    for (let now = at("2024-01-01T15:20:00Z"); now < at("2024-01-01T17:30:00Z"); now += 60_000) {
      const tick = dueTick(hourly, last, now);
      if (tick !== null) {
        due.push(tick);
        last = tick;
      }
    }
    expect(due.map((t) => new Date(t).toISOString())).toEqual(["2024-01-01T15:00:00.000Z", "2024-01-01T16:00:00.000Z", "2024-01-01T17:00:00.000Z"]);
  });

  test("a clock behind the recorded tick makes nothing due", () => {
    expect(dueTick(everySecond, at("2024-01-01T12:00:10Z"), at("2024-01-01T12:00:05Z"))).toBeNull();
  });

  test("cron fields are read in UTC", () => {
    const daily = { cron: "30 2 * * *", createdAt: at("2024-03-01T00:00:00Z") };
    expect(dueTick(daily, null, at("2024-03-01T02:30:00Z"))).toBe(at("2024-03-01T02:30:00Z"));
  });
});

describe("nextTick", () => {
  test("is the instant the schedule's next tick comes due, so a pass waits until then and no longer", () => {
    for (const [schedule, now] of [
      [hourly, at("2024-01-01T10:00:00.300Z")],
      [hourly, at("2024-01-01T10:59:59.999Z")],
      [everySecond, at("2024-01-01T12:00:03.500Z")],
      [everySecond, at("2024-01-01T12:00:04Z")],
    ] as const) {
      const next = nextTick(schedule, now);
      expect(next).toBeGreaterThan(now);
      // nothing comes due between now and then, and the tick is due at that instant
      const last = dueTick(schedule, null, now);
      expect(dueTick(schedule, last ?? now, next - 1)).toBeNull();
      expect(dueTick(schedule, last ?? now, next)).toBe(next);
    }
  });

  test("a schedule with no tick to come gives none", () => {
    expect(nextTick({ cron: "0 0 30 2 *", createdAt: 0 }, at("2024-01-01T00:00:00Z"))).toBe(Number.POSITIVE_INFINITY);
  });
});
