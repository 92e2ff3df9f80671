import { afterEach, expect, test } from "bun:test";
import { type InProcess, startInProcess } from "../helpers/in-process.ts";
import { waitFor } from "../helpers/processes.ts";
import { unhurriedWaitMs } from "../../coordinator/runs/run-advances.ts";

let h: InProcess;
afterEach(() => h?.stop());

const turn = () => new Promise<void>((resolve) => setImmediate(resolve));

/** Records which runs each pass of the engine looked at, and each ask for one with whether it was unhurried. */
function watch(h: InProcess) {
  const { scheduler } = h.coordinator.services;
  const passes: string[][] = [];
  const asks: { run: string; unhurried: boolean }[] = [];
  const advanceRuns = scheduler.advanceRuns.bind(scheduler);
  scheduler.advanceRuns = (runIds) => {
    passes.push([...runIds]);
    return advanceRuns(runIds);
  };
  const requestAdvance = scheduler.requestAdvance.bind(scheduler);
  scheduler.requestAdvance = (runId, attempts, unhurried = false) => {
    asks.push({ run: runId, unhurried });
    requestAdvance(runId, attempts, unhurried);
  };
  return { scheduler, passes, asks, passesOf: (run: string) => passes.filter((p) => p.includes(run)).length };
}

test("an attempt's end waits for the engine only when nothing waits for it: a task depended on, or a failure, goes at once", async () => {
  h = await startInProcess();
  const agent = await h.agent("a1", { capacity: 4 });
  const { asks } = watch(h);
  const id = await h.submit(
    [
      "tasks:",
      "  first: { steps: [ { run: hold } ] }",
      "  second: { depends: [first], steps: [ { run: hold } ] }",
      "  leaf: { steps: [ { run: hold } ] }",
      "  broken: { steps: [ { run: 'exit 1' } ], ignore_failure: true }",
      "",
    ].join("\n"),
  );
  const heldTask = (task: string) => [...agent.held.values()].find((held) => held.assignment.task === task)?.assignment.attempt;
  const ended = () => asks.filter((a) => a.run === id).map((a) => a.unhurried);
  // the failed one first: its retries and its run's result are decided at once
  await waitFor("the failure's end and two attempts held", () => ended().length === 1 && heldTask("first") && heldTask("leaf"));
  expect(ended()).toEqual([false]);
  agent.release(heldTask("first"));
  await waitFor("the second task to be held", () => heldTask("second"));
  expect(ended()).toEqual([false, false]);
  agent.release(heldTask("leaf"));
  await waitFor("the leaf's end to be asked about", () => ended().length === 3);
  expect(ended()).toEqual([false, false, true]);
  // the run's last attempt: nothing else of the run would bring its end sooner
  agent.release();
  await h.waitPhase(id, ["finished"]);
  expect(ended()).toEqual([false, false, true, false]);
  expect((await h.run(id)).result).toBe("success");
});

test("the successes of a wide run wait for one another, and the run's last one goes at once, whatever the order they end in", async () => {
  h = await startInProcess();
  const agent = await h.agent("a1", { capacity: 24 });
  const { asks } = watch(h);
  const id = await h.submit(`tasks:\n${Array.from({ length: 24 }, (_, i) => `  t${i}: { steps: [ { run: hold } ] }\n`).join("")}`);
  await waitFor("all 24 attempts held", () => agent.held.size === 24);
  const ended = () => asks.filter((a) => a.run === id).map((a) => a.unhurried);
  // not the order they were made in: the look for another attempt still going must not skip one it passed
  const attempts = [...agent.held.keys()];
  const order = attempts.map((_, i) => attempts[(i * 7) % attempts.length]!);
  for (const [i, attempt] of order.entries()) {
    agent.release(attempt);
    await waitFor(`end ${i + 1} asked about`, () => ended().length === i + 1);
  }
  await h.waitPhase(id, ["finished"]);
  expect(ended()).toEqual([...Array(23).fill(true), false]);
});

/**
 * A coordinator whose agent holds two tasks of a run of `tasks` independent ones, once its first passes are over: the
 * run, and the passes it has had so far.
 */
async function holdingRun(tasks: number) {
  h = await startInProcess();
  await h.agent("a1", { capacity: 2 });
  const watched = watch(h);
  const id = await h.submit(`tasks:\n${Array.from({ length: tasks }, (_, i) => `  t${i}: { steps: [ { run: hold } ] }\n`).join("")}`);
  await waitFor("the run to be running", async () => (await h.run(id)).phase === "running");
  await Bun.sleep(50);
  return { ...watched, id, before: watched.passesOf(id) };
}

test("unhurried changes of a run are looked at in one pass, which an urgent change of any run brings forward", async () => {
  const { scheduler, passesOf, id, before } = await holdingRun(300);
  // twenty asks, each in a turn of the event loop of its own: each used to be a pass of its own. They wait for one
  // another up to 30 ms (0.1 ms per task), so however slow the turns, at most one pass per 30 ms of them and one after.
  const wait = unhurriedWaitMs(300);
  const began = performance.now();
  for (let i = 0; i < 20; i++) {
    scheduler.requestAdvance(id, [], true);
    await turn();
  }
  const took = performance.now() - began;
  let seen = -1;
  await waitFor("the last of them looked at", async () => {
    await Bun.sleep(60);
    const now = passesOf(id);
    const still = now === seen;
    seen = now;
    return still;
  });
  const passes = passesOf(id) - before;
  expect(passes).toBeGreaterThanOrEqual(1);
  expect(passes).toBeLessThanOrEqual(Math.floor(took / wait) + 1);
  expect(passes).toBeLessThan(20);

  // an urgent ask for the run takes the unhurried ones with it, and the wait's end then finds nothing left
  const settled = passesOf(id);
  scheduler.requestAdvance(id, [], true);
  scheduler.requestAdvance(id, []);
  await waitFor("the urgent pass", () => passesOf(id) - settled === 1, 2_000);
  await Bun.sleep(60);
  expect(passesOf(id) - settled).toBe(1);
});

test("a run of a few tasks is looked at in the turn after its unhurried change: its end is not held back", async () => {
  const { scheduler, passesOf, id, before } = await holdingRun(2);
  scheduler.requestAdvance(id, [], true);
  // asked for the next turn of the event loop, as an urgent change is (a wait would be a timer's, 20 ms before)
  for (let turns = 0; turns < 10 && passesOf(id) === before; turns++) await turn();
  expect(passesOf(id)).toBe(before + 1);
});
