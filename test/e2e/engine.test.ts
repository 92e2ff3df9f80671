import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { type Cluster, type RunView, startCluster } from "../helpers/cluster.ts";
import { liveProcesses, waitFor } from "../helpers/processes.ts";
import { readEvents } from "../helpers/sse.ts";

let cluster: Cluster;
beforeAll(async () => {
  cluster = await startCluster({ DROVER_CANCEL_GRACE_MS: "1000" });
  await cluster.startAgent("e1", ["--capacity", "4"]);
});
afterAll(() => cluster.stop());

const taskOf = (run: RunView, name: string) => run.tasks.find((t) => t.name === name)!;
const getRun = async (id: string) => (await cluster.api<RunView>("GET", `/api/v1/runs/${id}`)).body;
async function createUser(user: string, role = "member"): Promise<string> {
  const res = await cluster.api<{ token: string }>("POST", "/api/v1/tokens", { user, role });
  expect(res.status).toBe(201);
  return res.body.token;
}

describe("pipelines", () => {
  test("an invalid pipeline is refused with every error as file:line:column", async () => {
    const count = async () => (await cluster.api<{ runs: unknown[] }>("GET", "/api/v1/runs")).body.runs.length;
    const before = await count();
    const res = await cluster.api<{ error: { code: string; details: { errors: string[] } } }>("POST", "/api/v1/runs", {
      pipeline: "tasks:\n  a:\n    stepz: []\n  b:\n    depends: [nope]\n    steps: [ { run: x } ]\n",
    });
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe("invalid_pipeline");
    expect(res.body.error.details.errors.length).toBeGreaterThanOrEqual(2);
    for (const e of res.body.error.details.errors) expect(e).toMatch(/^\.drover\.yml:\d+:\d+: /);
    // no run was stored (the other tests may have run first)
    expect(await count()).toBe(before);
  });

  test("a run step is bash -e: a failing command fails the step, a pipeline's status is its last command's", async () => {
    const id = await cluster.submit(`tasks:
  piped: { steps: [ { run: "grep -q absent /dev/null | cat\\necho after-pipe" } ] }
  stops: { steps: [ { run: "false\\necho never" } ] }
`);
    const run = await cluster.waitRun(id);
    expect(Object.fromEntries(run.tasks.map((t) => [t.name, t.status]))).toEqual({ piped: "success", stops: "failed" });
    expect(await cluster.log(id, "piped", 0)).toBe("after-pipe\n");
    expect(await cluster.log(id, "stops", 0)).toBe("");
  });

  test("conditions: on_failure runs after a failure, skips propagate, the run fails", async () => {
    const id = await cluster.submit(`tasks:
  build: { steps: [ { run: exit 1 } ] }
  notify: { depends: { build: [on_failure] }, steps: [ { run: echo notified } ] }
  deploy: { depends: [build], steps: [ { run: echo never } ] }
  after-deploy: { depends: { deploy: [on_skipped] }, steps: [ { run: echo cleanup } ] }
  flaky: { ignore_failure: true, steps: [ { run: exit 2 } ] }
`);
    const run = await cluster.waitRun(id);
    expect(run.result).toBe("failed");
    expect(Object.fromEntries(run.tasks.map((t) => [t.name, t.status]))).toEqual({
      build: "failed",
      flaky: "failed",
      notify: "success",
      deploy: "skipped",
      "after-deploy": "success",
    });
    expect(await cluster.log(id, "notify", 0)).toBe("notified\n");
  });

  test("matrix tasks expand with MATRIX_* env and a dependant waits for all of them", async () => {
    const id = await cluster.submit(`tasks:
  test:
    matrix: { node: ["20", "22"], os: [linux] }
    steps: [ { run: 'echo "$MATRIX_NODE/$MATRIX_OS"' } ]
  report: { depends: [test], steps: [ { run: echo done } ] }
`);
    const run = await cluster.waitRun(id);
    expect(run.result).toBe("success");
    expect(await cluster.log(id, encodeURIComponent("test[node=22,os=linux]"), 0)).toBe("22/linux\n");
    expect(taskOf(run, "report").status).toBe("success");
  });
});

test("outputs of succeeded matrix combinations stay available when another fails", async () => {
  const id = await cluster.submit(`tasks:
  build:
    matrix: { variant: [good, bad] }
    steps: [ { run: 'echo "built $MATRIX_VARIANT"; test "$MATRIX_VARIANT" = good' } ]
`);
  const run = await cluster.waitRun(id);
  expect(run.result).toBe("failed");
  expect(taskOf(run, "build[variant=good]").status).toBe("success");
  expect(taskOf(run, "build[variant=bad]").status).toBe("failed");
  expect(await cluster.log(id, encodeURIComponent("build[variant=good]"), 0)).toBe("built good\n");
});

describe("retries and timeouts", () => {
  test("retries re-run a failed attempt, each attempt keeping its own log", async () => {
    const id = await cluster.submit(`tasks:
  flaky:
    retries: 2
    steps: [ { run: 'echo "try $DROVER_ATTEMPT"; test "$DROVER_ATTEMPT" = 2' } ]
`);
    const run = await cluster.waitRun(id);
    expect(run.result).toBe("success");
    expect(taskOf(run, "flaky").attempts.map((a) => a.state)).toEqual(["failed", "success"]);
    const first = await fetch(`${cluster.coordinator.url}/api/v1/runs/${id}/tasks/flaky/steps/0/log?attempt=1`, {
      headers: { authorization: "Bearer test-admin-token" },
    });
    expect(await first.text()).toBe("try 1\n");
    expect(await cluster.log(id, "flaky", 0)).toBe("try 2\n");
  });

  test("a task's timeout fails its attempt with the reason timeout", async () => {
    const id = await cluster.submit("tasks:\n  slow: { timeout: 1s, steps: [ { run: sleep 30 } ] }\n");
    const run = await cluster.waitRun(id, 20_000);
    expect(run.result).toBe("failed");
    expect(taskOf(run, "slow").attempts[0]!.error).toBe("timeout");
  });

  test("a timeout while a finished step's log awaits its ack fails the attempt; later steps do not run", async () => {
    const flag = `${cluster.dir}/between-steps-${Date.now()}`;
    const id = await cluster.submit(`tasks:
  t:
    timeout: 3s
    steps:
      - run: 'until [ -e ${flag} ]; do sleep 0.01; done; echo done'
      - run: echo never
`);
    await waitFor("the first step to run", async () => taskOf(await getRun(id), "t").attempts[0]?.state === "running");
    // A stopped coordinator acks nothing: the first step prints its last line and exits 0 at once, and the next
    // step waits for that line's ack until the timeout (started before the attempt showed as running) has surely elapsed.
    const coordinator = cluster.coordinator.proc.pid;
    process.kill(coordinator, "SIGSTOP");
    try {
      await Bun.write(flag, "");
      await Bun.sleep(4000);
    } finally {
      process.kill(coordinator, "SIGCONT");
    }
    const run = await cluster.waitRun(id);
    expect(run.result).toBe("failed");
    const attempt = taskOf(run, "t").attempts[0]!;
    expect(attempt.error).toBe("timeout");
    expect(attempt.steps[0]).toMatchObject({ status: "success", exitCode: 0 });
    expect(attempt.steps[1]?.status).not.toBe("success");
    expect(await cluster.log(id, "t", 1)).toBe("");
  });

  test("a task no agent can take says so", async () => {
    const id = await cluster.submit("tasks:\n  gpu: { labels: { gpu: 'yes' }, steps: [ { run: echo x } ] }\n");
    const message = await waitFor("the status message", async () => {
      const run = await cluster.api<{ tasks: { statusMessage: string | null }[] }>("GET", `/api/v1/runs/${id}`);
      return run.body.tasks[0]!.statusMessage ?? undefined;
    });
    expect(message).toBe("queued: no online agent matches gpu=yes");
    await cluster.api("POST", `/api/v1/runs/${id}/cancel`);
    expect((await cluster.waitRun(id)).phase).toBe("cancelled");
  });

  test("an attempt no agent takes fails after the queue timeout", async () => {
    const lonely = await startCluster({ DROVER_QUEUE_TIMEOUT_MS: "1000" });
    try {
      const id = await lonely.submit("tasks:\n  t: { steps: [ { run: echo x } ] }\n");
      const run = await lonely.waitRun(id, 15_000);
      expect(run.result).toBe("failed");
      expect(taskOf(run, "t").attempts[0]!.error).toContain("queue timeout");
    } finally {
      await lonely.stop();
    }
  });
});

describe("approvals", () => {
  test("a task waits for N distinct approvers, then runs", async () => {
    const alice = await createUser("alice");
    const bob = await createUser("bob");
    const viewer = await createUser("victor", "viewer");
    const id = await cluster.submit(`tasks:
  build: { steps: [ { run: echo built } ] }
  deploy: { depends: [build], approval: { min_approvers: 2 }, steps: [ { run: echo deployed } ] }
`);
    await waitFor("waiting_approval", async () => taskOf(await getRun(id), "deploy").status === "waiting_approval");
    const path = `/api/v1/runs/${id}/tasks/deploy/approve`;
    expect((await cluster.api("POST", path, undefined, viewer)).status).toBe(403);
    expect((await cluster.api("POST", path, undefined, alice)).status).toBe(200);
    expect((await cluster.api("POST", path, undefined, alice)).status).toBe(409);
    expect(taskOf(await getRun(id), "deploy").status).toBe("waiting_approval");
    const second = await cluster.api<{ approvers: string[] }>("POST", path, undefined, bob);
    expect(second.body.approvers).toEqual(["alice", "bob"]);
    const run = await cluster.waitRun(id);
    expect(run.result).toBe("success");
    expect(await cluster.log(id, "deploy", 0)).toBe("deployed\n");
  });

  test("cancelling the run clears the wait", async () => {
    const id = await cluster.submit("tasks:\n  gate: { approval: { min_approvers: 1 }, steps: [ { run: echo x } ] }\n");
    await waitFor("waiting_approval", async () => taskOf(await getRun(id), "gate").status === "waiting_approval");
    expect((await cluster.api("POST", `/api/v1/runs/${id}/cancel`)).status).toBe(202);
    const run = await cluster.waitRun(id);
    expect(run.phase).toBe("cancelled");
    expect(taskOf(run, "gate").status).toBe("cancelled");
  });
});

describe("cancel and restart", () => {
  test("cancel stops running attempts, and no process of them survives", async () => {
    const marker = `drover-cancel-${Date.now()}`;
    const id = await cluster.submit(`tasks:
  long: { steps: [ { run: "(exec -a ${marker} sleep 600) & exec -a ${marker} sleep 600" } ] }
  next: { depends: [long], steps: [ { run: echo never } ] }
`);
    await waitFor("the step to run", async () => taskOf(await getRun(id), "long").attempts[0]?.state === "running");
    await waitFor("the process to exist", () => Bun.spawnSync(["pgrep", "-f", marker]).exitCode === 0);
    expect((await cluster.api("POST", `/api/v1/runs/${id}/cancel`)).status).toBe(202);
    const run = await cluster.waitRun(id);
    expect(run.phase).toBe("cancelled");
    expect(run.result).toBe("stopped");
    expect(taskOf(run, "long").attempts[0]!.state).toBe("stopped");
    expect(taskOf(run, "next").status).toBe("cancelled");
    expect(liveProcesses(marker)).toBe(0);
  });

  test("restart from failed reuses successful tasks and re-runs the rest; the original is untouched", async () => {
    const flag = `${cluster.dir}/flag-${Date.now()}`;
    const id = await cluster.submit(`tasks:
  a: { steps: [ { run: echo "a ran" } ] }
  b: { depends: [a], steps: [ { run: 'test -e ${flag} && echo "b ok"' } ] }
  c: { depends: [b], steps: [ { run: echo c } ] }
`);
    const original = await cluster.waitRun(id);
    expect(original.result).toBe("failed");
    await Bun.write(flag, "");
    const restarted = await cluster.api<{ id: string }>("POST", `/api/v1/runs/${id}/restart`, { from: "failed" });
    expect(restarted.status).toBe(201);
    const run = await cluster.waitRun(restarted.body.id);
    expect(run.result).toBe("success");
    const a = taskOf(run, "a").attempts[0]!;
    expect(a.agentId).toBe(taskOf(original, "a").attempts[0]!.agentId);
    expect(await cluster.log(run.id, "a", 0)).toBe("a ran\n");
    expect(await cluster.log(run.id, "b", 0)).toBe("b ok\n");
    const again = await getRun(id);
    expect(again.result).toBe("failed");
    expect(taskOf(again, "c").status).toBe("skipped");
    const scratch = await cluster.api<{ id: string }>("POST", `/api/v1/runs/${id}/restart`, { from: "scratch" });
    const fresh = await cluster.waitRun(scratch.body.id);
    expect(fresh.result).toBe("success");
    expect(taskOf(fresh, "a").attempts[0]!.agentId).toBeTruthy();
  });

  test("a single task can be re-run, keeping its earlier attempts", async () => {
    const flag = `${cluster.dir}/rerun-${Date.now()}`;
    const id = await cluster.submit(`tasks:\n  t: { steps: [ { run: 'test -e ${flag}' } ] }\n  u: { depends: [t], steps: [ { run: echo u } ] }\n`);
    expect((await cluster.waitRun(id)).result).toBe("failed");
    await Bun.write(flag, "");
    expect((await cluster.api("POST", `/api/v1/runs/${id}/tasks/t/rerun`)).status).toBe(202);
    const run = await cluster.waitRun(id);
    expect(run.result).toBe("success");
    expect(taskOf(run, "t").attempts.map((a) => [a.number, a.state])).toEqual([
      [1, "failed"],
      [2, "success"],
    ]);
    expect(taskOf(run, "u").status).toBe("success");
  });
});

describe("run groups", () => {
  test("with concurrency 1 the runs of a group go one at a time, in FIFO order", async () => {
    expect((await cluster.api("PUT", "/api/v1/groups/serial", { concurrency: 1 })).status).toBe(200);
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) ids.push(await cluster.submit("tasks:\n  t: { steps: [ { run: sleep 0.3 } ] }\n", "serial"));
    const runs = [];
    for (const id of ids) runs.push((await cluster.api<{ startedAt: number; endedAt: number }>("GET", `/api/v1/runs/${(await cluster.waitRun(id)).id}`)).body);
    for (let i = 1; i < runs.length; i++) expect(runs[i]!.startedAt).toBeGreaterThanOrEqual(runs[i - 1]!.endedAt);
  });
});

describe("events", () => {
  test("a client resuming with after=N gets exactly the events it missed", async () => {
    const id = await cluster.submit("tasks:\n  a: { steps: [ { run: echo a } ] }\n  b: { depends: [a], steps: [ { run: echo b } ] }\n");
    await cluster.waitRun(id);
    const all = await readEvents(cluster.coordinator.url, `/api/v1/runs/${id}/events?after=0`, (e) => e.kind === "run" && e.phase === "finished");
    const seqs = all.map((e) => e.seq);
    expect(seqs).toEqual([...seqs].sort((x, y) => x - y));
    expect(new Set(seqs).size).toBe(seqs.length);
    expect(all.filter((e) => e.kind === "task").map((e) => `${e.task}:${e.status}`)).toEqual([
      "a:running",
      "a:success",
      "b:running",
      "b:success",
    ]);
    const cut = seqs[1]!;
    const rest = await readEvents(cluster.coordinator.url, `/api/v1/runs/${id}/events?after=${cut}`, (e) => e.kind === "run" && e.phase === "finished");
    expect(rest.map((e) => e.seq)).toEqual(seqs.filter((s) => s > cut));
    const global = await readEvents(cluster.coordinator.url, `/api/v1/events?after=${cut}`, (e) => e.seq === seqs.at(-1));
    expect(global.filter((e) => e.run === id).map((e) => e.seq)).toEqual(seqs.filter((s) => s > cut));
  });
});
