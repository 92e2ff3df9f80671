import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import { advance } from "../../coordinator/engine/advance.ts";
import { queueTimeout } from "../../coordinator/engine/queue-timeout.ts";
import type { Condition, EngineAttempt, EngineInput, EngineTask, TaskStatus } from "../../coordinator/engine/types.ts";

const task = (name: string, level: number, depends: [string, Condition[]][] = [], extra: Partial<EngineTask> = {}): EngineTask => ({
  id: `id-${name}`,
  name,
  level,
  status: "notstarted",
  depends: depends.map(([t, conditions]) => ({ task: t, conditions })),
  retries: 0,
  ignoreFailure: false,
  minApprovers: 0,
  approvers: [],
  ...extra,
});
const input = (tasks: EngineTask[], attempts: EngineAttempt[] = [], cancel = false): EngineInput => ({
  run: { id: "r", phase: "running", result: "unknown", cancelRequested: cancel, setupError: null },
  tasks,
  attempts,
  now: 0,
});
const statuses = (tasks: EngineTask[]) => Object.fromEntries(tasks.map((t) => [t.name, t.status]));
const attempt = (name: string, number: number, state: EngineAttempt["state"]): EngineAttempt => ({
  id: `a-${name}-${number}`,
  taskId: `id-${name}`,
  number,
  state,
  cancelRequested: false,
  timedOutInQueue: false,
});

describe("engine", () => {
  test("roots start, children wait for their parents", () => {
    const out = advance(input([task("b", 1, [["a", ["on_success"]]]), task("a", 0)]));
    expect(out.actions).toEqual([{ type: "create_attempt", taskId: "id-a", number: 1 }]);
    expect(statuses(out.tasks)).toEqual({ a: "running", b: "notstarted" });
  });

  test("a failed parent skips on_success children, runs on_failure ones, and the skip propagates", () => {
    const tasks = [
      task("a", 0, [], { status: "running" }),
      task("b", 1, [["a", ["on_success"]]]),
      task("c", 1, [["a", ["on_failure"]]]),
      task("d", 2, [["b", ["on_success"]]]),
      task("e", 2, [["b", ["on_skipped"]]]),
    ];
    const out = advance(input(tasks, [attempt("a", 1, "failed")]));
    expect(statuses(out.tasks)).toEqual({ a: "failed", b: "skipped", c: "running", d: "skipped", e: "running" });
    expect(out.run.phase).toBe("running");
  });

  test("the run ends failed when a task failed, success when ignore_failure", () => {
    const failed = advance(input([task("a", 0, [], { status: "running" })], [attempt("a", 1, "failed")]));
    expect(failed.run).toMatchObject({ phase: "finished", result: "failed" });
    const ignored = advance(input([task("a", 0, [], { status: "running", ignoreFailure: true })], [attempt("a", 1, "failed")]));
    expect(ignored.run).toMatchObject({ phase: "finished", result: "success" });
  });

  test("retries re-run failed attempts, lost attempts get their own budget", () => {
    const retried = advance(input([task("a", 0, [], { status: "running", retries: 1 })], [attempt("a", 1, "failed")]));
    expect(retried.actions).toEqual([{ type: "create_attempt", taskId: "id-a", number: 2 }]);
    const lost = advance(input([task("a", 0, [], { status: "running" })], [attempt("a", 1, "lost"), attempt("a", 2, "lost")]));
    expect(lost.actions).toEqual([{ type: "create_attempt", taskId: "id-a", number: 3 }]);
    const exhausted = advance(
      input([task("a", 0, [], { status: "running" })], [attempt("a", 1, "lost"), attempt("a", 2, "lost"), attempt("a", 3, "lost")]),
    );
    expect(statuses(exhausted.tasks)).toEqual({ a: "failed" });
  });

  test("a queue timeout fails the task at once: it does not spend the task's retries", () => {
    const timedOut = { ...attempt("a", 1, "failed"), timedOutInQueue: true };
    const out = advance(input([task("a", 0, [], { status: "running", retries: 3 })], [timedOut]));
    expect(out.actions).toEqual([]);
    expect(statuses(out.tasks)).toEqual({ a: "failed" });
  });

  test("the queue timeout is the engine's decision on the clock it is given: past readyAt + timeout it fails the attempt", () => {
    expect(queueTimeout(1_000, 1_000 + 5_000, 5_000)).toBeNull();
    expect(queueTimeout(1_000, 1_000 + 5_001, 5_000)).toEqual({ state: "failed", error: "queue timeout: no agent took the attempt in 5 s", endedAt: 6_001 });
    expect(queueTimeout(1_000, 61_000, 5_000)?.error).toBe("queue timeout: no agent took the attempt in 60 s");
  });

  test("a run that cannot be set up stops what runs, starts nothing, and ends in setuperror with result error and why", () => {
    const broken = (attempts: EngineAttempt[]) => {
      const i = input([task("a", 0, [], { status: "running" }), task("b", 1, [["a", ["on_success"]]])], attempts);
      return advance({ ...i, run: { ...i.run, setupError: "gone" } });
    };
    const stopping = broken([attempt("a", 1, "running")]);
    expect(stopping.actions).toEqual([{ type: "cancel_attempt", attemptId: "a-a-1" }]);
    expect(stopping.run.phase).toBe("running");
    const ended = broken([attempt("a", 1, "stopped")]);
    expect(statuses(ended.tasks)).toEqual({ a: "stopped", b: "cancelled" });
    expect(ended.run).toMatchObject({ phase: "setuperror", result: "error" });
    expect(ended.events.at(-1)).toEqual({ kind: "run", phase: "setuperror", result: "error", error: "gone" });
  });

  test("cancel stops running attempts and cancels what has not started", () => {
    const out = advance(input([task("a", 0, [], { status: "running" }), task("b", 1, [["a", ["on_success"]]])], [attempt("a", 1, "running")], true));
    expect(out.actions).toEqual([{ type: "cancel_attempt", attemptId: "a-a-1" }]);
    expect(statuses(out.tasks)).toEqual({ a: "running", b: "cancelled" });
  });

  test("the same input gives the same output whatever the declared or stored order", () => {
    const statusArb = fc.constantFrom<TaskStatus>("notstarted", "running", "success", "failed", "skipped");
    const dagArb = fc.integer({ min: 1, max: 12 }).chain((n) =>
      fc.tuple(
        fc.array(fc.tuple(statusArb, fc.subarray([...Array(n).keys()])), { minLength: n, maxLength: n }),
        fc.array(fc.constantFrom<EngineAttempt["state"]>("success", "failed", "running", "lost"), { minLength: n, maxLength: n }),
      ),
    );
    fc.assert(
      fc.property(dagArb, fc.integer(), ([spec, states], seed) => {
        // parents always come from lower indices, so the graph is acyclic
        const tasks = spec.map(([status, parents], i) =>
          task(`t${i}`, i, parents.filter((p) => p < i).map((p) => [`t${p}`, ["on_success", "on_skipped"]]), { status }),
        );
        const attempts = tasks.filter((t) => t.status === "running").map((t, i) => attempt(t.name, 1, states[i]!));
        const shuffle = <T>(xs: T[]) => xs.map((x, i) => ({ x, k: (i * 7919 + seed) % 104729 })).sort((a, b) => a.k - b.k).map((e) => e.x);
        const a = advance(input(tasks, attempts));
        const b = advance(input(shuffle(tasks), shuffle(attempts)));
        expect(b).toEqual(a);
      }),
    );
  });
});
