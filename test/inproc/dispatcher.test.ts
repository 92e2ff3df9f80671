import { afterEach, describe, expect, test } from "bun:test";
import { type InProcess, startInProcess } from "../helpers/in-process.ts";
import { waitFor } from "../helpers/processes.ts";

let h: InProcess;
afterEach(() => h?.stop());

const HOLD = "tasks:\n  t:\n    steps: [ { run: hold } ]\n";
const assigns = (agent: { received: { type: string }[] }) => agent.received.filter((m) => m.type === "assign").length;

describe("dispatcher", () => {
  test("fills an agent up to its capacity and no further, first come first served", async () => {
    h = await startInProcess();
    const agent = await h.agent("a1", { capacity: 2 });
    const runs: string[] = [];
    for (let i = 0; i < 5; i++) runs.push(await h.submit(HOLD));
    await waitFor("two attempts held", () => agent.held.size === 2);
    await Bun.sleep(100);
    expect(agent.held.size).toBe(2);
    const heldRuns = () => [...agent.held.values()].map((x) => x.assignment.run).sort();
    expect(heldRuns()).toEqual(runs.slice(0, 2));
    agent.release();
    await waitFor("the next two", () => heldRuns().join() === runs.slice(2, 4).join());
    agent.release();
    await waitFor("the last", () => heldRuns().join() === runs[4]);
    agent.release();
    for (const id of runs) expect(await h.waitPhase(id, ["finished"])).toBe("finished");
    expect(agent.maxHeld).toBe(2);
  });

  test("an assignment not accepted in time goes back to the queue and is sent again", async () => {
    h = await startInProcess({ DROVER_ACCEPT_TIMEOUT_MS: "200" });
    const silent = await h.agent("silent", { silent: true });
    const id = await h.submit(HOLD);
    await waitFor("the assignment to be sent twice", () => assigns(silent) >= 2, 5000);
    expect((await h.run<{ tasks: { attempts: { state: string }[] }[] }>(id)).tasks[0]!.attempts.length).toBe(1);
  });

  test("a draining agent is given nothing new", async () => {
    h = await startInProcess();
    const agent = await h.agent("a1", { capacity: 4 });
    agent.sendRaw({ type: "draining" });
    await Bun.sleep(50);
    const id = await h.submit(HOLD);
    await Bun.sleep(200);
    expect(assigns(agent)).toBe(0);
    expect((await h.run(id)).phase).toBe("running");
  });

  test("an attempt no agent takes within the queue timeout fails, naming the timeout", async () => {
    h = await startInProcess({ DROVER_QUEUE_TIMEOUT_MS: "300" });
    const id = await h.submit(HOLD);
    expect(await h.waitPhase(id, ["finished"], 5000)).toBe("finished");
    const run = await h.run<{ result: string; tasks: { attempts: { state: string; error: string }[] }[] }>(id);
    expect(run.result).toBe("failed");
    expect(run.tasks[0]!.attempts[0]!.error).toContain("queue timeout");
  });
});

test("a queue timeout fails the task without spending its retries", async () => {
  h = await startInProcess({ DROVER_QUEUE_TIMEOUT_MS: "300" });
  const id = await h.submit("tasks:\n  t:\n    retries: 2\n    steps: [ { run: x } ]\n");
  expect(await h.waitPhase(id, ["finished"], 5000)).toBe("finished");
  const run = await h.run<{ tasks: { status: string; attempts: { state: string }[] }[] }>(id);
  expect(run.tasks[0]!.status).toBe("failed");
  expect(run.tasks[0]!.attempts.length).toBe(1);
});

test("an attempt's readyAt keeps a fraction of a millisecond, as its first byte's time does: the span between them is not rounded", async () => {
  h = await startInProcess();
  await h.agent("a1");
  const id = await h.submit("tasks:\n  a:\n    steps: [ { run: echo x } ]\n  b:\n    depends: [a]\n    steps: [ { run: echo y } ]\n");
  expect(await h.waitPhase(id, ["finished"])).toBe("finished");
  type View = { tasks: { attempts: { readyAt: number; assignedAt: number; steps: { firstByteAt: number }[] }[] }[] };
  // a run's first task is made ready as the run is created, the second as the first ends
  for (const t of (await h.run<View>(id)).tasks) {
    const { readyAt, assignedAt, steps } = t.attempts[0]!;
    expect(Number.isInteger(readyAt)).toBe(false);
    expect(Math.floor(readyAt)).toBeLessThanOrEqual(assignedAt);
    expect(steps[0]!.firstByteAt).toBeGreaterThan(readyAt);
  }
});
