import { describe, expect, test } from "bun:test";
import { prefetchAgent, restoringTask } from "../../coordinator/dispatch/prefetch-target.ts";
import { workspaceHolders } from "../../coordinator/dispatch/placement.ts";
import type { OnlineAgent } from "../../coordinator/fleet/fleet.ts";
import type { ActiveRun, AttemptRow, TaskRow } from "../../coordinator/runs/active-run.ts";

type Step = { kind: string };
const save: Step = { kind: "save_to_workspace" };
const restore: Step = { kind: "restore_workspace" };
const run: Step = { kind: "run" };

function task(name: string, level: number, steps: Step[], depends: string[] = [], labels: Record<string, string> = {}, status = "waiting"): TaskRow {
  return { id: `t-${name}`, name, level, status, spec: { steps, depends: depends.map((d) => ({ task: d })), labels } } as unknown as TaskRow;
}

function activeRun(tasks: TaskRow[], attempts: Partial<AttemptRow>[] = []): ActiveRun {
  return {
    tasks: new Map(tasks.map((t) => [t.id, t])),
    attempts: new Map(attempts.map((a) => [a.id!, a as AttemptRow])),
  } as unknown as ActiveRun;
}

function agent(id: string, labels: Record<string, string>, opts: { running?: number; prefetch?: boolean } = {}): OnlineAgent {
  const running = new Map(Array.from({ length: opts.running ?? 0 }, (_, i) => [`a${i}`, { cpu: 0, memoryBytes: 0 }]));
  return {
    row: { id, archs: ["amd64"], group: "", executor: "host", labels, capacity: 1, resources: { cpu: 4, memoryBytes: 1 << 30 } },
    socket: {},
    running,
    draining: false,
    prefetch: opts.prefetch ?? true,
  } as unknown as OnlineAgent;
}

describe("the task a prefetch is for", () => {
  test("the first unfinished task that restores and depends on the saver, directly or not", () => {
    const build = task("build", 0, [run, save]);
    const lint = task("lint", 1, [run], ["build"]);
    const test2 = task("test", 2, [restore], ["lint"]);
    const deploy = task("deploy", 1, [restore], ["other"]);
    const active = activeRun([build, lint, test2, deploy, task("other", 0, [run])]);
    expect(restoringTask(active, build)?.name).toBe("test");
    const done = task("test", 2, [restore], ["lint"], {}, "success");
    expect(restoringTask(activeRun([build, lint, done]), build)).toBeUndefined();
  });
});

describe("the agent a prefetch goes to", () => {
  const use = task("use", 1, [restore], ["build"], { role: "b" });
  test("an eligible agent with a free slot that takes prefetches, never the saver", () => {
    const agents = [agent("saver", { role: "b" }), agent("busy", { role: "b" }, { running: 1 }), agent("old", { role: "b" }, { prefetch: false }), agent("wrong", { role: "a" }), agent("free", { role: "b" })];
    expect(prefetchAgent(agents, use, "saver", () => true)?.row.id).toBe("free");
    expect(prefetchAgent(agents, use, "saver", (a) => a.row.id !== "free")).toBeUndefined();
  });

  test("placement prefers the saver if it keeps workspaces, then the agent the workspace was prefetched to", () => {
    const build = task("build", 0, [save]);
    const active = activeRun([build, use], [{ id: "att-1", taskId: build.id, state: "success", number: 1, agentId: "saver", endedAt: 1 }]);
    expect(workspaceHolders(active, use)).toEqual(["saver"]);
    const prefetchedTo = (attempt: string) => (attempt === "att-1" ? "b1" : undefined);
    expect(workspaceHolders(active, use, prefetchedTo)).toEqual(["saver", "b1"]);
    // a saver that keeps nothing holds nothing
    expect(workspaceHolders(active, use, prefetchedTo, (agent) => agent !== "saver")).toEqual(["b1"]);
  });
});
