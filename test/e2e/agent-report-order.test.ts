import { afterAll, expect, test } from "bun:test";
import { ROOT } from "../helpers/cluster.ts";
import { assignmentOf, startFakeCoordinator } from "../helpers/fake-coordinator.ts";
import { captureOutput, spawnTracked, stopAll, waitFor } from "../helpers/processes.ts";
import { scratchDirs } from "../helpers/scratch.ts";

// The reports an attempt makes before its first process starts (accept, the first step's start) are held until that
// process's output begins, it ends or a few ms have passed (agent/runner/attempt-processes.ts): still first, and in
// the order they were made.
const coordinator = startFakeCoordinator();
const dirs = scratchDirs("drover-report-order-");
afterAll(async () => {
  await stopAll();
  coordinator.stop();
});

async function startAgent(name: string): Promise<void> {
  const proc = spawnTracked(["bun", "agent/main.ts", "--coordinator", coordinator.url, "--token", "t", "--name", name, "--work-dir", dirs.fresh(name)], {
    cwd: ROOT,
  });
  const err = captureOutput(proc.stderr);
  await waitFor(`agent ${name} to be welcomed`, () => err.text().includes(`registered as ${name}`), 20_000);
}

test("an attempt's reports reach the coordinator in the order they were made, the accept first", async () => {
  await startAgent("order");
  const steps = [
    // silent past the reports' longest wait, then output
    { kind: "run" as const, name: "one", command: "sleep 0.2; echo one", env: {} },
    { kind: "run" as const, name: "two", command: "echo two; exit 3", env: {} },
  ];
  const outcome = await coordinator.assign("order", assignmentOf("att-order", steps));
  const said = outcome.reports.map((r) => ("step" in r ? `${r.type} ${r.step}` : r.type));
  expect(said).toEqual(["accept", "step_start 0", "step_end 0", "step_start 1", "step_end 1", "result"]);
  expect(outcome.logs.get(0)).toBe("one\n");
  expect(outcome.logs.get(1)).toBe("two\n");
  expect(outcome.result).toMatchObject({ status: "failed", exitCode: 3 });
}, 60_000);

test("an attempt whose first step ends silent at once reports its start before its end", async () => {
  await startAgent("silent");
  const outcome = await coordinator.assign("silent", assignmentOf("att-silent", [{ kind: "run", name: "quiet", command: "true", env: {} }]));
  expect(outcome.reports.map((r) => r.type)).toEqual(["accept", "step_start", "step_end", "result"]);
  expect(outcome.result.status).toBe("success");
}, 60_000);

test("reports made before an attempt that never starts a process are sent all the same", async () => {
  await startAgent("none");
  // no step at all: nothing starts, the accept and the result still go, in order
  const outcome = await coordinator.assign("none", assignmentOf("att-none", []));
  expect(outcome.reports.map((r) => r.type)).toEqual(["accept", "result"]);
}, 60_000);
