import { afterEach, describe, expect, test } from "bun:test";
import type { AttemptRow } from "../../coordinator/runs/active-run.ts";
import { type InProcess, startInProcess } from "../helpers/in-process.ts";
import { waitFor } from "../helpers/processes.ts";

// The scheduler, driven directly: no agent takes anything, the test plays the attempts' outcomes.
let h: InProcess;
afterEach(() => h?.stop());

const queued = () => {
  const { scheduler } = h.coordinator.services;
  const found: AttemptRow[] = [];
  for (const active of scheduler.active.values()) for (const a of active.attempts.values()) if (a.state === "queued") found.push(a);
  return found;
};

/** Ends an attempt as an agent's result would, and lets the engine look at its run. */
async function end(attempt: AttemptRow, state: "success" | "failed") {
  const { scheduler } = h.coordinator.services;
  await scheduler.serial.run(async () => {
    await scheduler.transition(attempt.id, "assign", { state: "assigned", agentId: "played-by-the-test" });
    await scheduler.transition(attempt.id, "accept", { state: "running" });
    await scheduler.transition(attempt.id, "result", { state, endedAt: Date.now() });
    scheduler.requestAdvance(attempt.runId);
  });
}

describe("scheduler", () => {
  test("a child is queued only once its parent succeeded; a failed parent skips it and fails the run", async () => {
    h = await startInProcess();
    const id = await h.submit("tasks:\n  a: { steps: [ { run: x } ] }\n  b: { depends: [a], steps: [ { run: y } ] }\n");
    expect(queued().map((a) => a.taskName)).toEqual(["a"]);
    await end(queued()[0]!, "success");
    await waitFor("b to be queued", () => queued()[0]?.taskName === "b");
    await end(queued()[0]!, "failed");
    expect(await h.waitPhase(id, ["finished"])).toBe("finished");
    expect((await h.run(id)).result).toBe("failed");

    const second = await h.submit("tasks:\n  a: { steps: [ { run: x } ] }\n  b: { depends: [a], steps: [ { run: y } ] }\n");
    await end(queued().find((a) => a.runId === second)!, "failed");
    await h.waitPhase(second, ["finished"]);
    expect((await h.run(second)).tasks.map((t) => `${t.name}:${t.status}`)).toEqual(["a:failed", "b:skipped"]);
  });

  test("an advance asked for while the node's run lease renewal is late happens once it is renewed", async () => {
    h = await startInProcess();
    const { scheduler } = h.coordinator.services;
    const id = await h.submit("tasks:\n  a: { steps: [ { run: x } ] }\n  b: { depends: [a], steps: [ { run: y } ] }\n");
    const a = queued()[0]!;
    await scheduler.serial.run(async () => {
      await scheduler.transition(a.id, "assign", { state: "assigned", agentId: "played-by-the-test" });
      await scheduler.transition(a.id, "accept", { state: "running" });
      await scheduler.transition(a.id, "result", { state: "success", endedAt: Date.now() });
    });
    // renewed now: for the next 2.5 s this node may act on the run, and the database keeps it this node's for 3 s
    await scheduler.holdRuns();
    // the event loop stalls past the first bound but not the second, as on an overloaded machine
    Bun.sleepSync(2700);
    expect(scheduler.leases.owns(id)).toBe(false);
    scheduler.requestAdvance(id);
    // the next beat renews the lease, and the advance asked for above is done then
    await waitFor("b to be queued", () => queued().find((q) => q.taskName === "b"), 10_000);
    expect(scheduler.leases.owns(id)).toBe(true);
  });

  test("a failed attempt is retried up to the task's retries, each a new attempt", async () => {
    h = await startInProcess();
    const id = await h.submit("tasks:\n  a: { retries: 2, steps: [ { run: x } ] }\n");
    for (let n = 1; n <= 3; n++) {
      const next = await waitFor(`attempt ${n}`, () => queued().find((a) => a.number === n));
      await end(next, "failed");
    }
    await h.waitPhase(id, ["finished"]);
    const run = await h.run(id);
    expect(run.tasks[0]!.attempts.map((a) => a.state)).toEqual(["failed", "failed", "failed"]);
  });

  test("with a group limit of one, the second run waits queued and starts when the first ends", async () => {
    h = await startInProcess();
    expect((await h.api("PUT", "/api/v1/groups/one", { concurrency: 1 })).status).toBe(200);
    const first = await h.submit("tasks:\n  a: { steps: [ { run: x } ] }\n", "one");
    const second = await h.submit("tasks:\n  a: { steps: [ { run: x } ] }\n", "one");
    expect((await h.run(second)).phase).toBe("queued");
    expect(queued().map((a) => a.runId)).toEqual([first]);
    await end(queued()[0]!, "success");
    await h.waitPhase(first, ["finished"]);
    expect(await h.waitPhase(second, ["running"])).toBe("running");
    expect(queued().map((a) => a.runId)).toEqual([second]);
  });
});
