import { afterEach, describe, expect, test } from "bun:test";
import type { InStatement, TransactionMode } from "@libsql/client";
import { type InProcess, startInProcess } from "../helpers/in-process.ts";
import { startJsonReceiver } from "../helpers/json-receiver.ts";
import { waitFor } from "../helpers/processes.ts";

let h: InProcess;
afterEach(() => h?.stop());

const HOLD = "tasks:\n  t:\n    steps: [ { run: hold } ]\n";
const QUICK = "tasks:\n  t:\n    steps: [ { run: echo hi } ]\n";

describe("cancel", () => {
  test("a run queued behind its group's concurrency limit is cancelled at once, and stays cancelled after a restart", async () => {
    h = await startInProcess();
    await h.agent("a1", { capacity: 4 });
    expect((await h.api("PUT", "/api/v1/groups/one", { concurrency: 1 })).status).toBe(200);
    const first = await h.submit(HOLD, "one");
    await h.waitPhase(first, ["running"]);
    const behind = await h.submit(QUICK, "one");
    expect((await h.run(behind)).phase).toBe("queued");
    expect((await h.api("POST", `/api/v1/runs/${behind}/cancel`)).status).toBe(202);
    // at once: no waiting for the first run's slot
    expect((await h.run(behind)).phase).toBe("cancelled");
    await h.restart();
    expect((await h.run(behind)).phase).toBe("cancelled");
  });

  test("a cancel the agent never heard of still stops the run after a coordinator restart", async () => {
    h = await startInProcess();
    const agent = await h.agent("a1");
    const id = await h.submit(HOLD);
    await waitFor("the attempt to be held", () => agent.held.size === 1);
    agent.disconnect();
    await Bun.sleep(50);
    expect((await h.api("POST", `/api/v1/runs/${id}/cancel`)).status).toBe(202);
    await h.restart();
    await agent.connect();
    expect(await h.waitPhase(id, ["cancelled", "finished"])).toBe("cancelled");
    expect((await h.run(id)).result).toBe("stopped");
  });
});

describe("rerun", () => {
  test("rerunning an unknown task of a finished run is a 404 that leaves the run finished: DELETE works, no second notice", async () => {
    const receiver = startJsonReceiver();
    const notices = receiver.bodies;
    try {
      h = await startInProcess();
      await h.agent("a1");
      const notify = { url: receiver.url, secret: "s3cret-s3cret" };
      expect((await h.api("PUT", "/api/v1/groups/notified", { notify })).status).toBe(200);
      const id = await h.submit(QUICK, "notified");
      await h.waitPhase(id, ["finished"]);
      await waitFor("the run-finished notice", () => notices.length === 1);
      const rerun = await h.api<{ error: { message: string } }>("POST", `/api/v1/runs/${id}/tasks/nope/rerun`);
      expect(rerun.status).toBe(404);
      expect(rerun.body.error.message).toContain("nope");
      expect(h.coordinator.services.scheduler.active.has(id)).toBe(false);
      expect((await h.api("POST", `/api/v1/runs/${id}/cancel`)).status).toBe(409);
      expect((await h.api("DELETE", `/api/v1/runs/${id}`)).status).toBe(200);
      await Bun.sleep(200);
      expect(notices.length).toBe(1);
    } finally {
      await receiver.stop();
    }
  });
});

describe("capacity", () => {
  test("no agent is ever given more attempts than its capacity, across a coordinator restart with results unacknowledged", async () => {
    h = await startInProcess();
    const agents = await Promise.all([1, 2, 3].map((i) => h.agent(`c${i}`, { capacity: 2 })));
    const pipeline = `tasks:\n${Array.from({ length: 12 }, (_, i) => `  t${i}:\n    steps: [ { run: "sleep 0.05" } ]\n`).join("")}`;
    const runs = await Promise.all(Array.from({ length: 4 }, () => h.submit(pipeline)));
    // partway through, every agent loses its connection and the coordinator restarts: results sent
    // meanwhile stay unacknowledged until the agents are back
    await waitFor("some attempts to finish", () => agents.every((a) => a.results.size > 0));
    for (const a of agents) a.disconnect();
    await Bun.sleep(100);
    await h.restart();
    await Promise.all(agents.map((a) => a.connect()));
    for (const id of runs) expect(await h.waitPhase(id, ["finished"], 30_000)).toBe("finished");
    for (const id of runs) expect((await h.run(id)).result).toBe("success");
    for (const a of agents) expect(a.maxHeld).toBeLessThanOrEqual(2);
  });
});

describe("memory follows the database", () => {
  test("a state change whose batch fails changes nothing in memory, so the same command can be given again", async () => {
    h = await startInProcess();
    await h.agent("a1");
    expect((await h.api("PUT", "/api/v1/groups/one", { concurrency: 1 })).status).toBe(200);
    const first = await h.submit(HOLD, "one");
    await h.waitPhase(first, ["running"]);
    const behind = await h.submit(QUICK, "one");
    const client = h.coordinator.services.db.$client;
    const batch = client.batch.bind(client);
    // the next write of an advance (the cancel's state change, behind its run's fence) fails once, as a full disk
    // or a lost database would make it
    client.batch = ((statements: InStatement[], mode?: TransactionMode) => {
      if (!statements.some((s) => typeof s === "object" && "sql" in s && s.sql.includes("run_fences"))) return batch(statements, mode);
      client.batch = batch;
      return Promise.reject(new Error("disk I/O error"));
    }) as typeof client.batch;
    expect((await h.api("POST", `/api/v1/runs/${behind}/cancel`)).status).toBe(500);
    expect(h.coordinator.services.scheduler.active.get(behind)?.run.phase).toBe("queued");
    expect((await h.api("POST", `/api/v1/runs/${behind}/cancel`)).status).toBe(202);
    expect((await h.run(behind)).phase).toBe("cancelled");
  });
});

describe("reports", () => {
  test("a report whose handling throws is still answered, and its attempt ends instead of staying running", async () => {
    h = await startInProcess();
    const agent = await h.agent("a1");
    const { scheduler } = h.coordinator.services;
    const transition = scheduler.transition.bind(scheduler);
    let thrown = 0;
    scheduler.transition = (async (id, from, patch) => {
      if (patch.state === "success" && thrown++ === 0) throw new Error("database is locked");
      return transition(id, from, patch);
    }) as typeof scheduler.transition;
    const id = await h.submit("tasks:\n  t:\n    steps: [ { run: echo hi } ]\n");
    expect(await h.waitPhase(id, ["finished"], 10_000)).toBe("finished");
    const run = await h.run(id);
    expect(thrown).toBeGreaterThanOrEqual(1);
    // the first attempt ended as an infrastructure error and was retried
    expect(run.tasks[0]!.attempts.map((a) => a.state)).toEqual(["error", "success"]);
    await waitFor("every report acknowledged", () => agent.held.size === 0);
  });
});
