import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { type Cluster, type RunView, startCluster } from "../helpers/cluster.ts";

// Agent hooks (--hooks-dir): environment, pre-task and post-task around every task, their output in the task's
// log under a header, a failing hook failing the task by name, run by the same executor as the steps.

let cluster: Cluster;

function hooksDir(name: string, hooks: Record<string, string>): string {
  const dir = join(cluster.dir, `hooks-${name}`);
  mkdirSync(dir, { recursive: true });
  for (const [hook, body] of Object.entries(hooks)) writeFileSync(join(dir, hook), `${body}\n`);
  return dir;
}

beforeAll(async () => {
  cluster = await startCluster();
  const ok = hooksDir("ok", {
    environment: 'echo "from environment"\nexport HOOKED="yes it is"',
    "pre-task": "echo pre-task ran",
    "post-task": 'echo "post-task saw $DROVER_TASK_RESULT $DROVER_TASK_EXIT_CODE"',
  });
  await cluster.startAgent("ok", ["--hooks-dir", ok, "--label", "hooks=ok"]);
  await cluster.startAgent("bad", ["--hooks-dir", hooksDir("bad", { "pre-task": "echo about to fail\nexit 4" }), "--label", "hooks=bad"]);
  const boxed = hooksDir("boxed", { "pre-task": 'echo "pid 1 is $(cat /proc/1/comm)"' });
  await cluster.startAgent("boxed", ["--hooks-dir", boxed, "--executor", "sandbox", "--label", "hooks=boxed"]);
});
afterAll(() => cluster.stop());

const task = (hooks: string, run: string) => `tasks:\n  t:\n    labels: { hooks: ${hooks} }\n    steps:\n      - run: ${JSON.stringify(run)}\n`;

describe("agent hooks", () => {
  test("environment exports to the steps; pre-task and post-task output frame the log under headers", async () => {
    const id = await cluster.submit(task("ok", 'echo "step sees $HOOKED"'));
    expect((await cluster.waitRun(id)).result).toBe("success");
    expect(await cluster.log(id, "t", 0)).toBe(
      "--- hook environment\nfrom environment\n--- hook pre-task\npre-task ran\nstep sees yes it is\n--- hook post-task\npost-task saw success 0\n",
    );
  });

  test("post-task runs after a failure, with the result in its environment", async () => {
    const id = await cluster.submit(task("ok", "exit 3"));
    const run = await cluster.waitRun(id);
    expect(run.result).toBe("failed");
    expect(run.tasks[0]!.attempts[0]!.exitCode).toBe(3);
    expect(await cluster.log(id, "t", 0)).toEndWith("--- hook post-task\npost-task saw failed 3\n");
  });

  test("a failing hook fails the task, naming the hook; the steps do not run", async () => {
    const id = await cluster.submit(task("bad", "echo never"));
    const run: RunView = await cluster.waitRun(id);
    expect(run.result).toBe("failed");
    expect(run.tasks[0]!.attempts[0]!.error).toBe("hook pre-task failed (exit 4)");
    expect(await cluster.log(id, "t", 0)).toBe("--- hook pre-task\nabout to fail\n--- hook pre-task failed (exit 4)\n");
  });

  test("hooks run in the steps' executor: in the sandbox, a hook sees the sandbox's processes only", async () => {
    const id = await cluster.submit(task("boxed", "echo step"));
    expect((await cluster.waitRun(id)).result).toBe("success");
    expect(await cluster.log(id, "t", 0)).toBe("--- hook pre-task\npid 1 is bwrap\nstep\n");
  });
});
