import { afterEach, describe, expect, test } from "bun:test";
import { newId } from "../../shared/ids.ts";
import * as schema from "../../coordinator/db/schema.ts";
import { ADMIN_TOKEN, type InProcess, startInProcess } from "../helpers/in-process.ts";
import { waitFor } from "../helpers/processes.ts";

let h: InProcess;
afterEach(() => h?.stop());

type View = { result: string; tasks: { attempts: { state: string; exitCode: number | null }[] }[] };
const result = (attempt: string, status: "success" | "failed") =>
  ({ type: "result", id: newId(), attempt, at: Date.now(), status, exitCode: status === "success" ? 0 : 1, error: null, cpuSeconds: 0, peakRssBytes: 0 }) as const;

describe("attempt reports", () => {
  test("a result is applied once: a later one for the same attempt is acknowledged and changes nothing", async () => {
    h = await startInProcess();
    const agent = await h.agent("a1");
    const id = await h.submit("tasks:\n  t:\n    steps: [ { run: echo hi } ]\n");
    await h.waitPhase(id, ["finished"]);
    const [attempt] = agent.assigned;
    const late = result(attempt!, "failed");
    agent.sendRaw(late);
    await waitFor("the late result to be acknowledged", () => agent.received.some((m) => m.type === "ack" && m.ids.includes(late.id)));
    const run = await h.run<View>(id);
    expect(run.result).toBe("success");
    expect(run.tasks[0]!.attempts.map((a) => `${a.state}:${a.exitCode}`)).toEqual(["success:0"]);
  });

  test("a failure tidying up after an attempt's end still lets the engine go on: the next task runs", async () => {
    h = await startInProcess();
    const agent = await h.agent("a1");
    const { logs } = h.coordinator.services;
    const release = logs.release.bind(logs);
    let thrown = 0;
    logs.release = (key) => {
      if (thrown++ === 0) throw new Error("EBADF: bad file descriptor, close");
      return release(key);
    };
    const id = await h.submit("tasks:\n  a:\n    steps: [ { run: echo a } ]\n  b:\n    depends: [a]\n    steps: [ { run: echo b } ]\n");
    await h.waitPhase(id, ["finished"], 10_000);
    expect(thrown).toBeGreaterThan(0);
    expect((await h.run(id)).result).toBe("success");
    expect(agent.assigned).toHaveLength(2);
  });

  test("an attempt lost with its agent is retried even when its partial log cannot be kept", async () => {
    h = await startInProcess({ DROVER_LEASE_TTL_MS: "600", DROVER_HEARTBEAT_MS: "150", DROVER_RECONNECT_GRACE_MS: "100" });
    const first = await h.agent("first");
    const { logs } = h.coordinator.services;
    const finalize = logs.finalize.bind(logs);
    let thrown = 0;
    logs.finalize = (key, size) => {
      if (thrown++ === 0) return Promise.reject(new Error("EBADF: bad file descriptor, close"));
      return finalize(key, size);
    };
    const id = await h.submit("tasks:\n  t:\n    steps: [ { run: \"echo started\\nhold\" } ]\n");
    await waitFor("the attempt to be held", () => first.held.size === 1);
    await waitFor("its first bytes to be stored", () => [...first.acked.values()].some((n) => n > 0));
    first.crash();
    const second = await h.agent("second");
    await waitFor("the retry to reach another agent", () => second.held.size === 1, 10_000);
    expect(thrown).toBeGreaterThan(0);
    second.release();
    await h.waitPhase(id, ["finished"], 10_000);
    expect((await h.run<View>(id)).tasks[0]!.attempts.map((a) => a.state)).toEqual(["lost", "success"]);
  });

  test("a report about another agent's attempt is refused with an error frame and changes nothing", async () => {
    h = await startInProcess();
    const owner = await h.agent("owner");
    const id = await h.submit("tasks:\n  t:\n    steps: [ { run: hold } ]\n");
    await waitFor("the attempt to be held", () => owner.held.size === 1);
    const other = await h.agent("other");
    other.sendRaw(result(owner.assigned[0]!, "failed"));
    await waitFor("an error frame", () => other.received.some((m) => m.type === "error"));
    expect((await h.run(id)).phase).toBe("running");
    owner.release();
    await h.waitPhase(id, ["finished"]);
    expect((await h.run(id)).result).toBe("success");
  });

  test("a step's log is stored before its attempt ends: the result waits for it", async () => {
    h = await startInProcess();
    await h.agent("a1");
    const id = await h.submit("tasks:\n  t:\n    steps: [ { run: \"echo one\\necho two\" }, { run: echo three } ]\n");
    await h.waitPhase(id, ["finished"]);
    expect((await h.api("GET", `/api/v1/runs/${id}/tasks/t/steps/0/log`)).body).toBe("one\ntwo\n");
    expect((await h.api("GET", `/api/v1/runs/${id}/tasks/t/steps/1/log`)).body).toBe("three\n");
  });

  test("an accept and a step's start are acknowledged while their attempt runs on, with no result to go with", async () => {
    h = await startInProcess();
    const agent = await h.agent("a1", { silent: true });
    await h.submit("tasks:\n  t:\n    steps: [ { run: hold } ]\n");
    const attempt = await waitFor("an assignment", () => agent.received.flatMap((m) => (m.type === "assign" ? [m.assignment.attempt] : []))[0]);
    const accept = { type: "accept", id: newId(), attempt } as const;
    const start = { type: "step_start", id: newId(), attempt, step: 0, at: Date.now() } as const;
    agent.sendRaw(accept);
    agent.sendRaw(start);
    const acked = () => new Set(agent.received.flatMap((m) => (m.type === "ack" ? m.ids : [])));
    await waitFor("both acknowledged", () => acked().has(accept.id) && acked().has(start.id));
  });

  test("a step that prints nothing has no log stored; its followers end as it ends, though its attempt runs on", async () => {
    h = await startInProcess();
    const agent = await h.agent("a1");
    // the fake agent prints nothing for `true`
    const id = await h.submit("tasks:\n  t:\n    steps: [ { run: 'true' }, { run: hold } ]\n");
    await waitFor("the attempt to be held", () => agent.held.size === 1);
    const follow = await h.coordinator.app.request(`/api/v1/runs/${id}/tasks/t/steps/0/log?follow=1`, {
      headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
    });
    const body = await Promise.race([follow.text(), Bun.sleep(3000).then(() => "still following")]);
    expect(body).toBe("");
    expect((await h.run(id)).phase).toBe("running");
    agent.release();
    await h.waitPhase(id, ["finished"]);
    type Steps = { tasks: { attempts: { steps: { status: string; logObject: string | null; logSize: number }[] }[] }[] };
    const [empty, held] = (await h.run<Steps>(id)).tasks[0]!.attempts[0]!.steps;
    expect(empty).toMatchObject({ status: "success", logObject: null, logSize: 0 });
    expect(held!.status).toBe("success");
    expect((await h.api("GET", `/api/v1/runs/${id}/tasks/t/steps/0/log`)).body).toBe("");
    const objects = await h.coordinator.services.db.select().from(schema.objects);
    expect(objects.filter((o) => o.key.includes(agent.assigned[0]!))).toEqual([]);
  });

  test("an accept's frames after it go on while its write waits: the step's start and end are stored, and its result waits its turn", async () => {
    h = await startInProcess();
    const agent = await h.agent("a1");
    const { scheduler } = h.coordinator.services;
    let release = () => {};
    const held = new Promise<void>((resolve) => {
      release = resolve;
    });
    let holding = false;
    const transition = scheduler.transition.bind(scheduler);
    scheduler.transition = (async (attemptId: string, event: Parameters<typeof transition>[1], patch: Parameters<typeof transition>[2]) => {
      if (event === "accept") {
        holding = true;
        await held;
      }
      return transition(attemptId, event, patch);
    }) as typeof scheduler.transition;
    type Steps = { phase: string; tasks: { attempts: { state: string; steps: { status: string }[] }[] }[] };
    const id = await h.submit("tasks:\n  t:\n    steps: [ { run: echo hi } ]\n");
    await waitFor("the accept to be held", () => holding);
    // the step's start and end (its log stored) do not wait behind the accept's write; the result, an attempt's move
    // like the accept, waits for it in the turns that apply them in order
    const step = async () => (await h.run<Steps>(id)).tasks[0]!.attempts[0]!;
    await waitFor("the step's end stored while the accept waits", async () => (await step()).steps[0]!.status === "success");
    expect((await step()).state).toBe("assigned");
    release();
    await h.waitPhase(id, ["finished"]);
    const run = await h.run<Steps & { result: string }>(id);
    expect(run.result).toBe("success");
    expect(run.tasks[0]!.attempts.map((a) => a.state)).toEqual(["success"]);
    await waitFor("the result acknowledged", () => agent.held.size === 0);
  });
});

