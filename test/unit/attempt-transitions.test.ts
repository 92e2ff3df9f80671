import { describe, expect, test } from "bun:test";
import { ATTEMPT_TRANSITIONS, type AttemptEvent, allowed } from "../../coordinator/engine/attempt-transitions.ts";
import { ATTEMPT_STATES, type AttemptState } from "../../shared/states.ts";

const EVENTS = Object.keys(ATTEMPT_TRANSITIONS) as AttemptEvent[];
const FINAL: AttemptState[] = ["success", "failed", "stopped", "error", "lost"];

describe("the attempt transition table", () => {
  test("a final state is never left, whatever arrives (a late or resent report changes nothing)", () => {
    for (const event of EVENTS) for (const from of FINAL) for (const to of ATTEMPT_STATES) expect(allowed(event, from, to)).toBe(false);
  });

  test("every state is reachable from queued, and only the listed events leave queued", () => {
    const reached = new Set<AttemptState>(["queued"]);
    for (let grew = true; grew; ) {
      grew = false;
      for (const event of EVENTS)
        for (const from of [...reached])
          for (const to of ATTEMPT_STATES)
            if (allowed(event, from, to) && !reached.has(to)) {
              reached.add(to);
              grew = true;
            }
    }
    expect([...reached].sort()).toEqual([...ATTEMPT_STATES].sort());
    const leaving = EVENTS.filter((e) => ATTEMPT_STATES.some((to) => allowed(e, "queued", to))).sort();
    expect(leaving).toEqual(["assign", "cancel_queued", "queue_timeout", "unrunnable"]);
  });

  test("an agent's report needs the attempt to be that agent's: not queued", () => {
    expect(allowed("accept", "queued", "running")).toBe(false);
    expect(allowed("result", "queued", "success")).toBe(false);
    expect(allowed("result", "running", "lost")).toBe(false);
    expect(allowed("result", "assigned", "success")).toBe(true);
  });
});
