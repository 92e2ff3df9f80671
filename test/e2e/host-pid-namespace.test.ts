import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, readdirSync, readFileSync, rmdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { ADMIN_TOKEN, type Cluster, ROOT, SHORT_LEASE, startCluster } from "../helpers/cluster.ts";
import { captureOutput, liveProcesses, spawnTracked, waitFor } from "../helpers/processes.ts";
import { STEP_USER, startUnprivilegedAgent } from "../helpers/unprivileged-agent.ts";

// Host steps in a PID namespace of their own (agent/executor/pid-namespace.ts), with real unshare: a root agent
// makes one outright, an unprivileged one with a user namespace; where none can be made the agent says why.

const root = process.getuid?.() === 0;

/** A step that starts a setsid'd daemon and a double-forked one tagged `tag`, then looks around itself. */
const probe = (tag: string, agentPid: number) => `set +e
setsid sh -c 'sleep 1000' ${tag}-setsid &
( sh -c 'sleep 1000' ${tag}-forked & ) &
# both daemons' sleeps started: before, a daemon's shell may be listed twice (forked, its child not yet sleep)
until [ "$(ps -eo args | grep -c '^sleep 1000$')" -ge 2 ]; do sleep 0.05; done
ps -eo pid=,args= | sed 's/^ */PS /'
if kill -0 ${agentPid} 2>/dev/null; then echo "LEAK: can signal the agent (pid ${agentPid})"; else echo SIGNAL-REFUSED; fi
id -un`;

/** What the step's `ps` listed: pid and command line. */
const listed = (log: string) =>
  log
    .split("\n")
    .filter((l) => l.startsWith("PS "))
    .map((l) => {
      const [, pid, args] = l.match(/^PS (\d+) (.*)$/)!;
      return { pid: Number(pid), args: args ?? "" };
    });

type AgentsView = { agents: { name: string; limits: Record<string, unknown> | null }[] };

let cluster: Cluster;
beforeAll(async () => {
  cluster = await startCluster({ DROVER_CANCEL_GRACE_MS: "2000", ...SHORT_LEASE });
});
afterAll(() => cluster.stop());

const task = (body: string, group?: string) =>
  `tasks:\n  t:\n${group ? `    group: ${group}\n` : ""}    steps:\n      - run: |\n${body.replace(/^/gm, "          ")}\n`;

/** The run's step log, after checking it succeeded and printed no leak; and that no tagged process outlived it. */
async function ranContained(id: string, tag: string): Promise<string> {
  const run = await cluster.waitRun(id);
  const log = await cluster.log(id, "t", 0);
  expect(`${run.result}\n${log}`).toStartWith("success\n");
  expect(log.split("\n").filter((l) => l.startsWith("LEAK"))).toEqual([]);
  expect(log).toContain("SIGNAL-REFUSED");
  expect(liveProcesses(`${tag}-`)).toBe(0);
  return log;
}

describe.skipIf(!root)("host steps in a PID namespace", () => {
  test("a root agent's step sees only its own tree in ps, cannot signal the agent, and its daemons end with it", async () => {
    // a group of its own: the file's other agents (nons has no namespace) stay connected, whatever the order
    const agent = await cluster.startAgent("ns1", ["--group", "nsroot"]);
    const { body } = await cluster.api<AgentsView>("GET", "/api/v1/agents");
    expect(body.agents.find((a) => a.name === "ns1")!.limits).toEqual({ memory: "cgroup", pids: "cgroup", pidNamespace: true, pidNamespaceWhyNot: null });
    const tag = `nsroot${Date.now()}`;
    const log = await ranContained(await cluster.submit(task(probe(tag, agent.proc.pid), "nsroot")), tag);
    const ps = listed(log);
    // PID 1 is the namespace's init (started with the step, or ahead of it, given its shell's LANG, and handed its
    // cgroups then: warm-start.ts; dash where the shell started ahead too), then the step's shell (not PID 1); the rest
    // are the step's own: its daemons, ps, and the pipe
    expect(ps.find((p) => p.pid === 1)?.args).toMatch(/^(bash (--norc )?|\S*dash )-c .* drover-step (\S+ )?\S+\/lease( cg=\S+)*( init)? -- bash -e \/dev\/fd\/3$/);
    // a pipeline's or subshell's fork not yet exec'ed is listed as the shell too: each of them, but none PID 1
    const shells = ps.filter((p) => p.args === "bash -e /dev/fd/3");
    expect(shells.length).toBeGreaterThan(0);
    expect(shells.filter((p) => p.pid === 1)).toEqual([]);
    expect(ps.map((p) => p.args).filter((a) => !/^(bash|sh|\S*dash|sleep|ps|sed)\b/.test(a))).toEqual([]);
    expect(ps.filter((p) => p.args.includes(`${tag}-`)).length).toBe(2);
    expect(ps.length).toBeLessThan(10);
    expect(log.trim().split("\n").at(-1)).toBe("root");
    // a cancel's SIGTERM reaches the step's shell (PID 2, not the namespace's init), which may clean up in the grace
    const trapped = await cluster.submit(task("trap 'echo got TERM; sleep 0.5; echo cleaned up; exit 3' TERM\necho ready\nsleep 60 & wait", "nsroot"));
    await waitFor("the step to start", async () => ((await cluster.log(trapped, "t", 0)).includes("ready") ? true : undefined), 20_000);
    await cluster.api("POST", `/api/v1/runs/${trapped}/cancel`);
    expect((await cluster.waitRun(trapped)).phase).toBe("cancelled");
    expect(await cluster.log(trapped, "t", 0)).toBe("ready\ngot TERM\ncleaned up\n");
    // the page shows it
    const page = await (await fetch(`${cluster.coordinator.url}/agents`, { headers: { cookie: `drover_token=${ADMIN_TOKEN}` } })).text();
    expect(page).toContain("PID namespace: yes");
  }, 60_000);

  test("a step started warm is in the cgroups its PID 1 joined ahead, capped as a cold one; the agent leaves no group behind", async () => {
    // the agent's subtree in the v1 pids hierarchy (it is the test's child), with a waiting process's groups left
    // by a previous run (killed with kill -9, its pid above any pid_max): removed as the agent starts; those of a
    // live agent of the same name (this test's process stands for one) are left alone
    const own = readFileSync("/proc/self/cgroup", "utf8").match(/^\d+:pids:(.*)$/m)![1]!;
    const base = join("/sys/fs/cgroup/pids", own, "drover-nswarm");
    const [stale, live] = [join(base, "warm-4194305-0"), join(base, `warm-${process.pid}-0`)];
    for (const dir of [stale, live]) mkdirSync(dir, { recursive: true });
    const agent = await cluster.startAgent("nswarm", ["--group", "nswarm", "--max-processes", "77"]);
    expect([existsSync(stale), existsSync(live)]).toEqual([false, true]);
    rmdirSync(live);
    const cat = (controller: string, file: string) => `cat "/sys/fs/cgroup/${controller}$(sed -n 's/^[0-9]*:${controller}://p' /proc/self/cgroup)/${file}"`;
    const show = `sed -n 's/^[0-9]*:pids:/pids /p' /proc/self/cgroup\n${cat("pids", "pids.max")}\n${cat("memory", "memory.limit_in_bytes")}`;
    const ids: string[] = [];
    for (let i = 0; i < 2; i++) {
      ids.push(await cluster.submit(`tasks:\n  t:\n    group: nswarm\n    resources: { memory: 64M }\n    steps:\n      - run: |\n${show.replace(/^/gm, "          ")}\n`, "nswarm"));
      expect((await cluster.waitRun(ids[i]!)).result).toBe("success");
    }
    const groups = [];
    for (const id of ids) {
      const [group, pids, memory] = (await cluster.log(id, "t", 0)).trim().split("\n");
      groups.push(group);
      expect(group).toMatch(new RegExp(`^pids ${own.replace(/\/$/, "")}/drover-nswarm/warm-\\d+-\\d+$`));
      expect([pids, memory]).toEqual(["77", String(64 * 1024 * 1024)]);
    }
    // a group of its own for each step
    expect(new Set(groups).size).toBe(2);
    // stopped, the agent removes the next step's waiting process and its groups with it
    agent.proc.kill("SIGTERM");
    await agent.proc.exited;
    const left = existsSync(base) ? readdirSync(base, { withFileTypes: true }).filter((e) => e.isDirectory()) : [];
    expect(left.map((e) => e.name)).toEqual([]);
  }, 60_000);

  test("an unprivileged agent (no cgroup, no supervisor) holds its steps by the namespace alone: daemons end with the step, at a cancel, and by the watchdog once the agent is killed", async () => {
    const agent = await startUnprivilegedAgent(cluster, "nsu", "nsunpriv");
    const { body } = await cluster.api<AgentsView>("GET", "/api/v1/agents");
    expect(body.agents.find((a) => a.name === "nsu")!.limits).toEqual({ memory: "rlimit", pids: "rlimit", pidNamespace: true, pidNamespaceWhyNot: null });
    const tag = `nsunpriv${Date.now()}`;
    // the agent runs as the step's own user: without the namespace the step could signal it
    const log = await ranContained(await cluster.submit(task(probe(tag, agent.pid), "nsunpriv"), "nsunpriv"), tag);
    expect(log.trim().split("\n").at(-1)).toBe(STEP_USER);
    expect(listed(log).find((p) => p.pid === 2)?.args).toBe("bash -e /dev/fd/3");
    // cleared environments too (no attempt id to find them by), and a step that ignores SIGTERM: the SIGKILL after
    // the grace ends the namespace's init, and the kernel everything in it
    const cancelled = `nscancel${Date.now()}`;
    const running = await cluster.submit(
      task(`trap '' TERM\nenv -i setsid sh -c 'sleep 1000' ${cancelled}-setsid &\n( env -i sh -c 'sleep 1000' ${cancelled}-forked & ) &\nwhile :; do sleep 0.2; done`, "nsunpriv"),
      "nsunpriv",
    );
    await waitFor("the daemons", () => liveProcesses(`${cancelled}-`) >= 2, 20_000);
    await cluster.api("POST", `/api/v1/runs/${running}/cancel`);
    expect((await cluster.waitRun(running)).phase).toBe("cancelled");
    await waitFor("every daemon to end", () => liveProcesses(`${cancelled}-`) === 0, 5_000);
    // the agent killed with kill -9: once the lease has lapsed (5 s here) its watchdog kills unshare, and the namespace ends
    const orphaned = `nsorphan${Date.now()}`;
    await cluster.submit(task(`env -i setsid sh -c 'sleep 1000' ${orphaned}-setsid &\nsleep 1000`, "nsunpriv"), "nsunpriv");
    await waitFor("the daemon", () => liveProcesses(`${orphaned}-`) >= 1, 20_000);
    process.kill(agent.pid, "SIGKILL");
    await waitFor("the daemon to end", () => liveProcesses(`${orphaned}-`) === 0, 25_000);
  }, 90_000);

  test("an agent that cannot make one says why, reports it, and keeps its steps' trees by its cgroups", async () => {
    // an unshare that fails as it does where namespaces are refused
    const fake = join(cluster.dir, "fake-bin");
    mkdirSync(fake, { recursive: true });
    writeFileSync(join(fake, "unshare"), "#!/bin/sh\necho 'unshare: unshare failed: Operation not permitted' >&2\nexit 1\n", { mode: 0o755 });
    const agent = spawnTracked(
      ["bun", "agent/main.ts", "--coordinator", cluster.coordinator.url, "--token", "test-agent-token", "--name", "nons",
        "--work-dir", join(cluster.dir, "agent-nons"), "--label", "who=nons"],
      { cwd: ROOT, env: { PATH: `${fake}:${process.env.PATH}` } },
    );
    const err = captureOutput(agent.stderr);
    await waitFor("agent nons to register", () => err.text().includes("registered as"), 20_000);
    expect(err.text()).toContain("host steps get no PID namespace of their own: unshare --pid --fork --kill-child --mount-proc --propagation slave failed: unshare: unshare failed: Operation not permitted");
    const { body } = await cluster.api<AgentsView>("GET", "/api/v1/agents");
    expect(body.agents.find((a) => a.name === "nons")!.limits).toMatchObject({ memory: "cgroup", pids: "cgroup", pidNamespace: false });
    const tag = `nons${Date.now()}`;
    const id = await cluster.submit(`tasks:\n  t:\n    labels: { who: nons }\n    steps:\n      - run: |\n${`setsid sh -c 'sleep 1000' ${tag}-setsid &\n( sh -c 'sleep 1000' ${tag}-forked & ) &\nsleep 0.5\nps -e | wc -l`.replace(/^/gm, "          ")}\n`);
    expect((await cluster.waitRun(id)).result).toBe("success");
    // the host's processes are in view (this test's own among them), and the cgroup still ended the daemons
    expect(Number((await cluster.log(id, "t", 0)).trim())).toBeGreaterThan(10);
    expect(liveProcesses(`${tag}-`)).toBe(0);
    const page = await (await fetch(`${cluster.coordinator.url}/agents`, { headers: { cookie: `drover_token=${ADMIN_TOKEN}` } })).text();
    expect(page).toContain("PID namespace: no");
  }, 60_000);
});
