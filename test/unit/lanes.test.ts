import { describe, expect, test } from "bun:test";
import type { TaskSpec } from "../../shared/pipeline/index.ts";
import { Lanes, laneKey } from "../../coordinator/dispatch/lanes.ts";
import type { AttemptRow } from "../../coordinator/runs/active-run.ts";

const attempt = (runId: string, id: string) => ({ id, runId }) as AttemptRow;
const spec = (labels: Record<string, string>, more: Partial<TaskSpec> = {}) => ({ labels, ...more }) as TaskSpec;
const ids = (lanes: Lanes) => lanes.sorted().map((l) => [...l.attempts.keys()]);

describe("dispatch lanes", () => {
  test("tasks asking the same of an agent share a lane, whatever order their labels are written in", () => {
    expect(laneKey(spec({ a: "1", b: "2" }))).toBe(laneKey(spec({ b: "2", a: "1" })));
    expect(laneKey(spec({ a: "1" }))).not.toBe(laneKey(spec({ a: "2" })));
    expect(laneKey(spec({}))).not.toBe(laneKey(spec({}, { arch: "arm64" })));
    expect(laneKey(spec({}))).not.toBe(laneKey(spec({}, { resources: { cpu: 2 } } as Partial<TaskSpec>)));
  });

  test("each lane is in queue order, an older run's retry ahead of a newer run's attempts", () => {
    const lanes = new Lanes();
    lanes.add(attempt("r1", "a1"), "x");
    lanes.add(attempt("r2", "a2"), "x");
    lanes.add(attempt("r1", "a3"), "x");
    lanes.add(attempt("r2", "a4"), "y");
    expect(ids(lanes)).toEqual([["a1", "a3", "a2"], ["a4"]]);
    expect(lanes.size).toBe(4);
  });

  test("a lane left empty is gone, and an attempt queued again keeps a single place", () => {
    const lanes = new Lanes();
    lanes.add(attempt("r1", "a1"), "x");
    lanes.add(attempt("r1", "a2"), "y");
    lanes.add(attempt("r1", "a1"), "x");
    expect(lanes.delete("a2")).toBe(true);
    expect(lanes.delete("a2")).toBe(false);
    expect(ids(lanes)).toEqual([["a1"]]);
    expect([...lanes.values()].map((a) => a.id)).toEqual(["a1"]);
  });

  test("attempts of runs other nodes drive wait in lanes of their own, marked, and move when queued as this node's", () => {
    const lanes = new Lanes();
    lanes.add(attempt("r1", "a1"), "x", false);
    lanes.add(attempt("r2", "a2"), "x");
    lanes.add(attempt("r1", "a3"), "x", false);
    expect(lanes.sorted().map((l) => [l.ours, [...l.attempts.keys()]])).toEqual([
      [false, ["a1", "a3"]],
      [true, ["a2"]],
    ]);
    lanes.add(attempt("r1", "a1"), "x");
    expect(lanes.sorted().map((l) => [l.ours, [...l.attempts.keys()]])).toEqual([
      [false, ["a3"]],
      [true, ["a1", "a2"]],
    ]);
    expect(lanes.size).toBe(3);
  });
});
