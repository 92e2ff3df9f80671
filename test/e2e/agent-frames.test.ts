import { afterAll, expect, test } from "bun:test";
import { ROOT } from "../helpers/cluster.ts";
import type { Assignment } from "../../shared/protocol/index.ts";
import { assignmentOf, startFakeCoordinator } from "../helpers/fake-coordinator.ts";
import { captureOutput, spawnTracked, stopAll, waitFor } from "../helpers/processes.ts";
import { scratchDirs } from "../helpers/scratch.ts";

// An idle agent holds no zod: it checks the coordinator's frames with the schemas only from the first frame that
// needs them on, loaded then (shared/protocol/idle-frames.ts). These are the guards of that.
const coordinator = startFakeCoordinator();
const dirs = scratchDirs("drover-agent-frames-");
afterAll(async () => {
  await stopAll();
  coordinator.stop();
});

/** The assignment with a default left out: the agent reads it with the schemas, not by hand (agent/connection/assign-frame.ts). */
function readBySchema(assignment: Assignment): Assignment {
  const { sandbox: _, ...rest } = assignment;
  return rest as Assignment;
}

test("an idle agent has loaded no zod, no protocol schema, no archive code and no ulid", () => {
  const script = `for (const m of ["./agent/agent.ts", "./agent/config.ts", "./agent/executor/undumpable.ts"]) await import(m);
console.log(JSON.stringify(Object.keys(require.cache)));`;
  const proc = Bun.spawnSync(["bun", "-e", script], { cwd: ROOT, stderr: "pipe" });
  expect(proc.stderr.toString()).toBe("");
  const loaded = JSON.parse(proc.stdout.toString()) as string[];
  expect(loaded.some((p) => p.endsWith("/agent/agent.ts"))).toBe(true);
  const heavy = /node_modules\/(zod|ulid|tar-stream|picomatch)\/|\/shared\/protocol\/(agent-messages|coordinator-messages|archive-api)\.ts$/;
  expect(loaded.filter((p) => heavy.test(p))).toEqual([]);
});

test("frames that come while the agent loads the schemas are handled in the order sent: a cancel right after its assign stops it", async () => {
  const proc = spawnTracked(["bun", "agent/main.ts", "--coordinator", coordinator.url, "--token", "t", "--name", "fresh", "--work-dir", dirs.fresh("fresh")], {
    cwd: ROOT,
  });
  const err = captureOutput(proc.stderr);
  await waitFor("the agent to be welcomed", () => err.text().includes("registered as fresh"), 20_000);
  const assignment = readBySchema(assignmentOf("att-1", [{ kind: "run", name: "long", command: "sleep 30", env: {} }]));
  // the agent's first frames that need the schemas: the cancel comes while they load
  const outcome = coordinator.assign("fresh", assignment);
  coordinator.cancel("fresh", "att-1", 100);
  const t0 = performance.now();
  const { result } = await outcome;
  expect(result.status).toBe("stopped");
  expect(performance.now() - t0).toBeLessThan(20_000);
  expect(err.text()).not.toContain("invalid frame");
});

test("an assignment read by hand that comes while the schemas load waits its turn: a cancel sent before it does not stop it", async () => {
  const proc = spawnTracked(["bun", "agent/main.ts", "--coordinator", coordinator.url, "--token", "t", "--name", "ordered", "--work-dir", dirs.fresh("ordered")], {
    cwd: ROOT,
  });
  const err = captureOutput(proc.stderr);
  await waitFor("the agent to be welcomed", () => err.text().includes("registered as ordered"), 20_000);
  // the cancel is the first frame that needs the schemas; the assignment after it needs none, and must not overtake it
  coordinator.cancel("ordered", "att-3", 100);
  const { result, logs } = await coordinator.assign("ordered", assignmentOf("att-3", [{ kind: "run", name: "short", command: "sleep 0.2; echo ran", env: {} }]));
  expect(result.status).toBe("success");
  expect(logs.get(0)?.toString()).toBe("ran\n");
});

test("a SIGTERM right after an assignment, while the agent loads the schemas, drains after running it", async () => {
  // The SIGTERM must come after the assignment's frame reached the agent and before its schemas are loaded: 3 ms
  // after the send, which a loaded machine may not have delivered the frame within. Then the agent, draining with
  // nothing received, exits having run nothing, and the scenario is tried again with a new agent.
  for (let round = 1; ; round++) {
    const name = `drained-${round}`;
    const proc = spawnTracked(["bun", "agent/main.ts", "--coordinator", coordinator.url, "--token", "t", "--name", name, "--work-dir", dirs.fresh(name)], {
      cwd: ROOT,
    });
    const err = captureOutput(proc.stderr);
    await waitFor("the agent to be welcomed", () => err.text().includes(`registered as ${name}`), 20_000);
    const assignment = readBySchema(assignmentOf(`att-2-${round}`, [{ kind: "run", name: "short", command: "sleep 0.2; echo ran", env: {} }]));
    const outcome = coordinator.assign(name, assignment);
    // the frame is on the agent's side within this time; its schemas take longer to load
    await Bun.sleep(3);
    proc.kill("SIGTERM");
    const ran = await Promise.race([outcome, proc.exited.then(() => Promise.race([outcome, Bun.sleep(2000).then(() => null)]))]);
    if (!ran) {
      if (round === 3) throw new Error(`the SIGTERM came before the assignment in 3 rounds:\n${err.text()}`);
      continue;
    }
    expect(ran.result.status).toBe("success");
    expect(ran.logs.get(0)?.toString()).toBe("ran\n");
    expect(await proc.exited).toBe(0);
    return;
  }
});
