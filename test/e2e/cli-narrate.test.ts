import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { ADMIN_TOKEN, type Cluster, ROOT, type RunView, startCluster } from "../helpers/cluster.ts";
import { captureOutput, waitFor } from "../helpers/processes.ts";

// What `drover run`, `rerun` and `restart` say while they follow a run, tested on the compiled binary.
let cluster: Cluster;
const drover = join(ROOT, `dist/drover-linux-${process.arch === "arm64" ? "arm64" : "amd64"}`);

beforeAll(async () => {
  expect(Bun.spawnSync(["./scripts/build-cli"], { cwd: ROOT }).exitCode).toBe(0);
  cluster = await startCluster();
  await cluster.startAgent("n1", ["--capacity", "3"]);
}, 60_000);
const started: number[] = [];
afterAll(async () => {
  for (const pid of started) {
    try {
      process.kill(-pid, "SIGKILL");
    } catch {
      // already gone
    }
  }
  await cluster?.stop();
});

function project(pipeline: string): string {
  const dir = mkdtempSync(join(cluster.dir, "project-"));
  writeFileSync(join(dir, ".drover.yml"), pipeline);
  return dir;
}

/** The binary, its stdin and its output as they come; under `script` it has a terminal, so Ctrl-C is a key. */
function start(args: string[], cwd: string, { terminal = false } = {}) {
  const env = { DROVER_URL: cluster.coordinator.url, DROVER_TOKEN: ADMIN_TOKEN, NO_COLOR: "1" };
  const command = terminal ? ["script", "-qfec", [drover, ...args].join(" "), "/dev/null"] : [drover, ...args];
  const proc = Bun.spawn(command, { cwd, env: { ...process.env, ...env }, stdin: "pipe", stdout: "pipe", stderr: "pipe", detached: true });
  started.push(proc.pid);
  const out = captureOutput(proc.stdout);
  const err = captureOutput(proc.stderr);
  return {
    proc,
    text: () => out.text(),
    all: () => out.text() + err.text(),
    type: (keys: string) => {
      proc.stdin.write(keys);
      proc.stdin.flush();
    },
  };
}
const getRun = async (id: string) => (await cluster.api<RunView>("GET", `/api/v1/runs/${id}`)).body;

/** A run of `pipeline` submitted through the API, once it has ended. */
async function endedRun(pipeline: string): Promise<string> {
  const res = await cluster.api<{ id: string }>("POST", "/api/v1/runs", { pipeline, group: "narrate" });
  expect(res.status).toBe(201);
  await cluster.waitRun(res.body.id);
  return res.body.id;
}

describe("drover run says what is happening", () => {
  test("the run's address, why tasks wait, a failure before what it caused, and a table at the end", async () => {
    const dir = project(`tasks:
  build: { steps: [ { run: echo built } ] }
  test:
    depends: [build]
    steps: [ { run: 'echo testing; [ "$DROVER_ATTEMPT" -gt 1 ] || exit 3' } ]
  after:
    depends: [test]
    steps: [ { run: echo after } ]
  arm:
    arch: arm64
    steps: [ { run: echo on arm } ]
  deploy:
    depends: [build]
    approval: true
    steps: [ { run: echo deployed } ]
`);
    const cli = start(["run"], dir);
    const id = await waitFor("the run's address", () => cli.text().match(/^run (\S+): (\S+)$/m) ?? undefined, 20_000);
    const runId = id[1]!;
    expect(id[2]).toBe(`${cluster.coordinator.url}/runs/${runId}`);
    await waitFor("the queue reason", () => cli.text().includes("--> arm queued: no online agent matches arch=arm64\n"));
    await waitFor("the approval note", () =>
      cli.text().includes(`--> deploy is waiting for approval — \`drover approve ${runId} deploy\` or ${cluster.coordinator.url}/runs/${runId}\n`),
    );
    // what an autoscaler reads: the queue per group and arch, in the API and in /metrics
    const queue = await cluster.api<{ queued: number; pools: unknown[] }>("GET", "/api/v1/queue");
    expect(queue.body.queued).toBe(1);
    expect(queue.body.pools).toEqual([{ group: "any", arch: "arm64", labels: {}, queued: 1, oldestAgeSeconds: expect.any(Number) }]);
    const metrics = await (await fetch(`${cluster.coordinator.url}/metrics`)).text();
    expect(metrics).toContain('drover_queue_depth{group="any",arch="arm64"} 1\n');
    expect(metrics).toMatch(/drover_queue_oldest_seconds\{group="any",arch="arm64"\} [0-9.]+\n/);
    expect((await cluster.api("POST", `/api/v1/runs/${runId}/tasks/deploy/approve`)).status).toBe(200);
    await cluster.startAgent("arm", ["--arch", "arm64"]);
    expect(await cli.proc.exited).toBe(1);
    const output = cli.text();
    expect(output).toContain("[deploy] deployed\n");
    expect(output).toContain("[arm] on arm\n");
    // the failure comes before the task it caused to be skipped
    const failed = output.indexOf("==> test failed: exit code 3");
    expect(failed).toBeGreaterThan(output.indexOf("[test] testing\n"));
    expect(output.indexOf("==> after skipped")).toBeGreaterThan(failed);
    const table = output.slice(output.indexOf("TASK"));
    expect(table).toMatch(/^TASK +RESULT +DURATION +ATTEMPTS\n/);
    for (const [task, result] of [["build", "success"], ["test", "failed"], ["after", "skipped"], ["arm", "success"], ["deploy", "success"]]) {
      expect(table).toMatch(new RegExp(`^${task} +${result} +\\S+ +\\d\\n`, "m"));
    }
    expect(output).toContain(`run ${runId} finished: failed`);
  }, 60_000);

  test("drover rerun RUN TASK runs the task again in its run and follows only the new attempts", async () => {
    const runId = await endedRun(`tasks:
  build: { steps: [ { run: echo built } ] }
  test:
    depends: [build]
    steps: [ { run: 'echo testing; [ "$DROVER_ATTEMPT" -gt 1 ] || exit 3' } ]
  after:
    depends: [test]
    steps: [ { run: echo after } ]
`);
    expect((await getRun(runId)).result).toBe("failed");
    const dir = project("");
    const cli = start(["rerun", runId, "test"], dir);
    expect(await cli.proc.exited).toBe(0);
    const text = cli.text();
    expect(text).toContain(`rerunning test in run ${runId}\n`);
    // tasks' lines interleave as they arrive: after's line may come between test's header and its output
    expect(text).toContain("[test] --- attempt 2 ---\n");
    expect(text.indexOf("[test] testing\n")).toBeGreaterThan(text.indexOf("[test] --- attempt 2 ---\n"));
    expect(text).toContain("[after] after\n");
    expect(text).not.toContain("[build] built");
    expect(text).toMatch(/^after +success/m);
    expect((await getRun(runId)).result).toBe("success");
  }, 60_000);

  test("drover restart follows the new run", async () => {
    const flag = join(cluster.dir, "restart-flag");
    const runId = await endedRun(`tasks:
  build: { steps: [ { run: echo built } ] }
  test:
    depends: [build]
    steps: [ { run: 'test -e ${flag}' } ]
`);
    expect((await getRun(runId)).result).toBe("failed");
    writeFileSync(flag, "");
    const cli = start(["restart", runId, "--failed"], project(""));
    expect(await cli.proc.exited).toBe(0);
    const created = cli.text().match(/^run (\S+) restarts /m)![1]!;
    expect(created).not.toBe(runId);
    expect(cli.text()).toContain(`run ${created}: ${cluster.coordinator.url}/runs/${created}\n`);
    expect(cli.text()).toContain(`run ${created} finished: success`);
  }, 60_000);
});

describe("Ctrl-C while following", () => {
  const slow = "tasks:\n  slow: { steps: [ { run: 'echo started; sleep 30' } ] }\n";

  test("asks, and c cancels the run and says so", async () => {
    const cli = start(["run"], project(slow), { terminal: true });
    await waitFor("the step to start", () => cli.text().includes("[slow] started"), 20_000);
    const id = cli.text().match(/run (\S+): http/)![1]!;
    cli.type("\x03");
    await waitFor("the question", () => cli.text().includes("[c]ancel run"));
    cli.type("c");
    await waitFor("the cancel", () => cli.text().includes(`cancelling run ${id}`));
    await cli.proc.exited;
    expect(cli.text()).toMatch(/^slow +stopped/m);
    expect(cli.text()).toContain(`run ${id} cancelled`);
    expect((await getRun(id)).phase).toBe("cancelled");
  }, 60_000);

  test("asks, and d detaches and leaves the run going", async () => {
    const cli = start(["run"], project(slow), { terminal: true });
    await waitFor("the step to start", () => cli.text().includes("[slow] started"), 20_000);
    const id = cli.text().match(/run (\S+): http/)![1]!;
    cli.type("\x03");
    await waitFor("the question", () => cli.text().includes("[c]ancel run"));
    cli.type("d");
    await cli.proc.exited;
    expect(cli.text()).toContain(`detached: run ${id} goes on`);
    expect((await getRun(id)).phase).toBe("running");
    await cluster.api("POST", `/api/v1/runs/${id}/cancel`);
  }, 60_000);

  test("without a terminal nobody can answer: it detaches and says so", async () => {
    const cli = start(["run"], project(slow));
    await waitFor("the step to start", () => cli.text().includes("[slow] started"), 20_000);
    const id = cli.text().match(/run (\S+): http/)![1]!;
    process.kill(cli.proc.pid, "SIGINT");
    expect(await cli.proc.exited).toBe(130);
    expect(cli.text()).toContain(`detached: run ${id} goes on`);
    expect((await getRun(id)).phase).toBe("running");
    await cluster.api("POST", `/api/v1/runs/${id}/cancel`);
  }, 60_000);
});
