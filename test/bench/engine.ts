import { advance } from "../../coordinator/engine/advance.ts";
import type { AttemptState, Condition, EngineAttempt, EngineInput, EngineTask, TaskStatus } from "../../coordinator/engine/types.ts";
import { type Benchmark, percentile, round, target } from "./lib.ts";

const LEVELS = 10;
const WIDTH = 100;
const SAMPLES = 200;
const WARMUP = 20;

/** mulberry32: the same DAG on every run, so figures from different days compare. */
function prng(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * A run caught half-way: levels 0–2 settled (mostly success, some failed, skipped or
 * ignored failures), level 3 a mix of settled, running and not yet started tasks,
 * level 4 running (attempts active, succeeded, failed with retries left, lost,
 * stopped), levels 5–9 not started, some behind an approval. One pass then takes
 * every branch: attempt outcomes (active, retry, final), readiness (wait, run,
 * skip on a failed or missing parent, on_failure / on_skipped conditions),
 * approvals, and parents settled earlier in the same pass.
 */
function midRun(cancelRequested = false): EngineInput {
  const rnd = prng(42);
  const pick = <T>(values: T[]) => values[Math.floor(rnd() * values.length)]!;
  const tasks: EngineTask[] = [];
  const attempts: EngineAttempt[] = [];
  const addAttempts = (task: EngineTask, states: AttemptState[]) => {
    for (const [i, state] of states.entries()) attempts.push({ id: `${task.id}-a${i + 1}`, taskId: task.id, number: i + 1, state, cancelRequested: false, timedOutInQueue: false });
  };
  for (let level = 0; level < LEVELS; level++) {
    for (let i = 0; i < WIDTH; i++) {
      const name = `l${level}-t${String(i).padStart(3, "0")}`;
      const depends: EngineTask["depends"] = [];
      if (level > 0) {
        const parents = new Set(Array.from({ length: 1 + Math.floor(rnd() * 3) }, () => Math.floor(rnd() * WIDTH)));
        for (const p of parents) {
          const conditions: Condition[] = rnd() < 0.9 ? ["on_success"] : pick([["on_failure"], ["on_success", "on_skipped"]]);
          depends.push({ task: `l${level - 1}-t${String(p).padStart(3, "0")}`, conditions });
        }
        if (rnd() < 0.005) depends.push({ task: "no-such-task", conditions: ["on_success"] });
      }
      let status: TaskStatus = "notstarted";
      let history: AttemptState[] = [];
      const roll = rnd();
      if (level < 3) {
        status = roll < 0.85 ? "success" : roll < 0.95 ? "failed" : "skipped";
        if (status !== "skipped") history = status === "success" ? ["success"] : ["failed", "failed"];
      } else if (level === 3) {
        if (roll < 0.4) [status, history] = ["success", ["success"]];
        else if (roll < 0.7) [status, history] = ["running", [pick<AttemptState>(["running", "success", "failed"])]];
        // otherwise not started yet: ready, skipped or waiting for an approval
      } else if (level === 4) {
        status = "running";
        history = pick<AttemptState[]>([["queued"], ["assigned"], ["running"], ["success"], ["failed"], ["lost", "running"], ["lost"], ["stopped"], ["error", "lost", "lost"]]);
      }
      const task: EngineTask = {
        id: `task-${level}-${i}`,
        name,
        level,
        status,
        depends,
        retries: i % 4 === 0 ? 1 : 0,
        ignoreFailure: i % 17 === 0,
        minApprovers: i % 7 === 0 ? 1 : 0,
        approvers: [],
      };
      tasks.push(task);
      addAttempts(task, history);
    }
  }
  // Storage order is not the engine's order: it sorts (level, name) itself.
  tasks.sort(() => rnd() - 0.5);
  return { run: { id: "run", phase: "running", result: "unknown", cancelRequested, setupError: null }, tasks, attempts, now: Date.now() };
}

function median(fn: () => unknown): number {
  for (let i = 0; i < WARMUP; i++) fn();
  const times: number[] = [];
  for (let i = 0; i < SAMPLES; i++) {
    const t0 = performance.now();
    fn();
    times.push(performance.now() - t0);
  }
  return percentile(times, 50);
}

export const engine: Benchmark = {
  name: "engine",
  rounds: 3,
  async run() {
    const input = midRun();
    const out = advance(input);
    const kinds = new Set<string>([...out.actions.map((a) => a.type), ...out.events.map((e) => (e.kind === "task" ? e.status : e.kind))]);
    console.error(`engine: ${out.actions.length} actions, ${out.events.length} events (${[...kinds].sort().join(", ")})`);
    for (const expected of ["create_attempt", "success", "failed", "skipped", "stopped", "waiting_approval"]) {
      if (!kinds.has(expected)) throw new Error(`the benchmark input no longer exercises ${expected}`);
    }
    const baseline = median(() => structuredClone(input));
    const value = median(() => advance(input));
    const cancelling = midRun(true);
    console.error(`engine: with a cancel requested, p50 ${round(median(() => advance(cancelling)), 3)} ms`);
    return {
      engine_advance_1000_ms: { value: round(value, 3), unit: "ms", baseline: round(baseline, 3), ratio: round(value / baseline), target: target("≤ 20 ms", value <= 20) },
    };
  },
};
