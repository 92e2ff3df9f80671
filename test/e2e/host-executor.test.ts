import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { type Cluster, SHORT_LEASE, startCluster } from "../helpers/cluster.ts";
import { liveProcesses, waitFor } from "../helpers/processes.ts";
import { ensureStepUser, STEP_USER, startUnprivilegedAgent } from "../helpers/unprivileged-agent.ts";

// The host executor: nothing a step starts outlives it (setsid, a double fork, a new process group), a cancel
// reaches all of it, and a step run as another user finds no credential of the agent anywhere it can look.

const root = process.getuid?.() === 0;

/**
 * Starts three escapees tagged `tag`: a setsid'd one, a double-forked one, and one in a process group of its own,
 * each writing its marker after `seconds`; `via` runs before each (`env -i ` clears the attempt id from it).
 */
const escapes = (tag: string, dir: string, via = "", seconds = 30) => `
${via}setsid sh -c 'sleep ${seconds}; touch ${dir}/${tag}-setsid' &
( ${via}sh -c 'sleep ${seconds}; touch ${dir}/${tag}-forked' & ) &
${via}python3 -c 'import os, time; os.setpgid(0, 0); time.sleep(${seconds}); open("${dir}/${tag}-pgid", "w")' &
until [ "$(ps -eo args | grep -c '${dir}/${tag}-')" -ge 4 ]; do sleep 0.05; done
echo started`;

// set before the agents start, which inherit it: a step must not see it
process.env.DROVER_TEST_AGENT_ONLY = "1";

let cluster: Cluster;
let agentPid: number;
beforeAll(async () => {
  // a short grace, so that a cancel's SIGKILL comes well before an escapee's marker would; a short lease, so
  // that the watchdog of an agent killed with kill -9 acts within seconds
  cluster = await startCluster({ DROVER_CANCEL_GRACE_MS: "2000", ...SHORT_LEASE });
  agentPid = (await cluster.startAgent("h1")).proc.pid;
});

const readCmdline = (pid: number) => {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, "utf8");
  } catch {
    return "";
  }
};

/** Live (not zombie) children of `pid`. */
function children(pid: number): number[] {
  const out = Bun.spawnSync(["ps", "-o", "pid=,stat=", "--ppid", String(pid)]).stdout.toString();
  return out
    .trim()
    .split("\n")
    .filter((line) => line.trim() && !line.trim().split(/\s+/)[1]?.startsWith("Z"))
    .map((line) => Number(line.trim().split(/\s+/)[0]));
}
afterAll(() => cluster.stop());

describe("host executor", () => {
  test("processes that called setsid, double-forked or changed their process group end with their step", async () => {
    const tag = `esc${Date.now()}`;
    const id = await cluster.submit(
      `tasks:\n  t:\n    steps:\n      - run: |\n${escapes(tag, cluster.dir).replace(/^/gm, "          ")}\n`,
    );
    const run = await cluster.waitRun(id);
    expect(run.result).toBe("success");
    expect(await cluster.log(id, "t", 0)).toContain("started");
    expect(liveProcesses(`${cluster.dir}/${tag}-`)).toBe(0);
  });

  test("a cancel reaches every process the step started, wherever it moved", async () => {
    const tag = `cancel${Date.now()}`;
    const id = await cluster.submit(
      `tasks:\n  t:\n    steps:\n      - run: |\n${`${escapes(tag, cluster.dir)}\nsleep 60`.replace(/^/gm, "          ")}\n`,
    );
    await waitFor("the escapees", () => liveProcesses(`${cluster.dir}/${tag}-`) >= 3, 20_000);
    await cluster.api("POST", `/api/v1/runs/${id}/cancel`);
    await cluster.waitRun(id);
    await waitFor("every escapee to end", () => liveProcesses(`${cluster.dir}/${tag}-`) === 0, 5_000);
  });

  test.skipIf(!root)(
    "a step run as another user (--run-as) finds no token or credential of the agent anywhere it can look",
    async () => {
      // the user passes through to its attempt dir, and sees nothing else of the agent's
      ensureStepUser(cluster);
      const secret = join(cluster.dir, "secret");
      mkdirSync(secret, { mode: 0o700 });
      // a registration token of its own: other agents on this machine carry the shared test token in plain sight
      const token = (await cluster.api<{ token: string }>("POST", "/api/v1/agent-tokens", { group: "runas" })).body.token;
      writeFileSync(join(secret, "agent.token"), `${token}\n`, { mode: 0o600 });
      await cluster.startAgent("r1", ["--token-file", join(secret, "agent.token"), "--run-as", STEP_USER, "--group", "runas"]);
      const identity = join(cluster.dir, "agent-r1", "agent-r1", "identity.json");
      expect(statSync(identity).mode & 0o777).toBe(0o600);
      const credential = JSON.parse(await Bun.file(identity).text()).credential as string;
      const probe = `set +eo pipefail
id -un
pwd
for needle in "$TOKEN_A$TOKEN_B" "$CRED_A$CRED_B"; do
  for f in /proc/[0-9]*/cmdline /proc/[0-9]*/environ; do if grep -qaF -- "$needle" "$f" 2>/dev/null; then echo "LEAK in $f"; fi; done
  for d in "$PWD" "$(dirname "$PWD")" "$(dirname "$(dirname "$PWD")")" ${cluster.dir} /etc; do
    grep -rlaF -- "$needle" "$d" 2>/dev/null | sed 's/^/LEAK in /' | head -3
  done
done
if cat ${identity} 2>/dev/null; then echo "LEAK: read the identity"; fi
if cat ${join(secret, "agent.token")} 2>/dev/null; then echo "LEAK: read the token file"; fi
if ls ${join(cluster.dir, "agent-r1", "spool")} 2>/dev/null; then echo "LEAK: listed the spool"; fi
if ls .. 2>/dev/null; then echo "LEAK: listed the other attempts"; fi
if touch ../other 2>/dev/null; then echo "LEAK: wrote beside its dir"; fi
echo mine > here && echo WROTE-OWN
echo PROBED`;
      // the needles are split so the step's own environment and command line do not hold them whole
      const half = (s: string) => [s.slice(0, s.length >> 1), s.slice(s.length >> 1)];
      const [ta, tb] = half(token);
      const [ca, cb] = half(credential);
      const id = await cluster.submit(`env: { TOKEN_A: "${ta}", TOKEN_B: "${tb}", CRED_A: "${ca}", CRED_B: "${cb}" }
tasks:
  probe:
    group: runas
    steps:
      - run: |
${probe.replace(/^/gm, "          ")}
`);
      const run = await cluster.waitRun(id);
      const log = await cluster.log(id, "probe", 0);
      expect(`${run.result}\n${log}`).toStartWith("success\n");
      expect(log).toContain("PROBED");
      expect(log.split("\n")[0]).toBe(STEP_USER);
      expect(log).toContain("WROTE-OWN");
      expect(log.split("\n").filter((l) => l.includes("LEAK"))).toEqual([]);
      expect(existsSync(join(cluster.dir, "agent-r1", "attempts", "other"))).toBe(false);
    },
    60_000,
  );

  test("limits: a step over its memory limit is killed, saying so; a process cap holds the whole tree; both reported", async () => {
    const { body } = await cluster.api<{ agents: { name: string; executor: string; limits: unknown }[] }>(
      "GET",
      "/api/v1/agents",
    );
    const h1 = body.agents.find((a) => a.name === "h1")!;
    expect(h1.executor).toBe("host");
    // this machine lets root make cgroups (v1 memory and pids, v2 for the tree)
    expect(h1.limits).toMatchObject(root ? { memory: "cgroup", pids: "cgroup" } : { memory: "rlimit", pids: "rlimit" });
    const id = await cluster.submit(`tasks:
  hog:
    resources: { memory: 64M }
    steps: [ { run: "python3 -c 'b = bytearray(400 * 1024 * 1024); print(len(b))'" } ]
`);
    const run = await cluster.waitRun(id);
    const attempt = run.tasks[0]!.attempts[0]!;
    expect(run.result).toBe("failed");
    expect(attempt.error).toBe(root ? "killed: memory limit 64 MiB" : attempt.error);
    await cluster.startAgent("p1", ["--max-processes", "20", "--label", "who=p1"]);
    const forks = await cluster.submit(`tasks:
  forks:
    labels: { who: p1 }
    steps:
      - run: |
          python3 -c '
          import os, time
          n = 0
          for i in range(60):
              try:
                  if os.fork() == 0:
                      time.sleep(3)
                      os._exit(0)
                  n += 1
              except OSError:
                  pass
          print("forked", n)'
`);
    await cluster.waitRun(forks);
    const forked = Number((await cluster.log(forks, "forks", 0)).match(/forked (\d+)/)?.[1]);
    expect(forked).toBeGreaterThan(0);
    expect(forked).toBeLessThan(20);
  });

  /**
   * An agent running as the step user, which cannot make cgroups, and without a PID namespace (host-pid-namespace
   * tests the namespace): its steps' trees are held by the subreaper supervisor. Started once, by the first test
   * that needs it.
   */
  let unprivileged: ReturnType<typeof startUnprivilegedAgent> | undefined;
  const startUnprivileged = () => {
    unprivileged ??= startUnprivilegedAgent(cluster, "u1", "unpriv", ["--no-pid-namespace"]);
    return unprivileged;
  };
  const unprivilegedRun = (body: string, env = "", group = "unpriv") =>
    cluster.submit(
      `tasks:\n  t:\n    group: ${group}\n    env: { ${env} }\n    steps:\n      - run: |\n${body.replace(/^/gm, "          ")}\n`,
      group,
    );

  test.skipIf(!root)(
    "an unprivileged agent (no cgroups) ends every escapee by the attempt id in its environment, reports rlimits, and keeps its environment from its steps",
    async () => {
      const agent = await startUnprivileged();
      const { body } = await cluster.api<{ agents: { name: string; limits: unknown }[] }>("GET", "/api/v1/agents");
      expect(body.agents.find((a) => a.name === "u1")!.limits).toEqual({
        memory: "rlimit",
        pids: "rlimit",
        pidNamespace: false,
        pidNamespaceWhyNot: "turned off (--no-pid-namespace)",
      });
      const tag = `unpriv${Date.now()}`;
      const [t1, t2] = [agent.token.slice(0, 10), agent.token.slice(10)];
      const probe = `set +e
id -un
head -c1 /proc/${agent.pid}/environ >/dev/null 2>&1 && echo "LEAK: read the agent's environ"
for f in /proc/[0-9]*/environ /proc/[0-9]*/cmdline; do if grep -qaF -- "$T1$T2" "$f" 2>/dev/null; then echo "LEAK in $f: $(tr '\\0' ' ' < \${f%/*}/cmdline | head -c 200)"; fi; done
${escapes(tag, "/tmp")}`;
      const id = await unprivilegedRun(probe, `T1: "${t1}", T2: "${t2}"`);
      expect((await cluster.waitRun(id)).result).toBe("success");
      const log = await cluster.log(id, "t", 0);
      expect(log.split("\n")[0]).toBe(STEP_USER);
      expect(log.split("\n").filter((l) => l.includes("LEAK"))).toEqual([]);
      await waitFor("every escapee to end", () => liveProcesses(`/tmp/${tag}-`) === 0, 5_000);
    },
    60_000,
  );

  test.skipIf(!root)(
    "an unprivileged agent ends escapees that also cleared their environment (env -i), at the step's end and at a cancel",
    async () => {
      await startUnprivileged();
      const ended = `cleared${Date.now()}`;
      const id = await unprivilegedRun(escapes(ended, "/tmp", "env -i ", 8));
      expect((await cluster.waitRun(id)).result).toBe("success");
      expect(liveProcesses(`/tmp/${ended}-`)).toBe(0);
      // they and the step ignore SIGTERM, so what ends them is the SIGKILL after the grace
      const cancelled = `clearedcancel${Date.now()}`;
      const cancelledAt = Date.now();
      const running = await unprivilegedRun(
        `trap '' TERM\n${escapes(cancelled, "/tmp", "env -i ", 8)}\nwhile :; do sleep 0.2; done`,
      );
      await waitFor("the escapees", () => liveProcesses(`/tmp/${cancelled}-`) >= 3, 20_000);
      await cluster.api("POST", `/api/v1/runs/${running}/cancel`);
      expect((await cluster.waitRun(running)).phase).toBe("cancelled");
      // (under load the cancel's SIGKILL can come late; the markers below prove it came before the 8 s sleep ended)
      await waitFor("every escapee to end", () => liveProcesses(`/tmp/${cancelled}-`) === 0, 15_000);
      // past the escapees' sleep: none wrote its marker
      await Bun.sleep(Math.max(0, cancelledAt + 9_000 - Date.now()));
      const markers = ["setsid", "forked", "pgid"].flatMap((k) => [`/tmp/${ended}-${k}`, `/tmp/${cancelled}-${k}`]);
      expect(markers.filter((m) => existsSync(m))).toEqual([]);
    },
    90_000,
  );

  test.skipIf(!root)(
    "an unprivileged agent killed with kill -9 leaves its step to the watchdog, which ends the escapees that cleared their environment too",
    async () => {
      // an agent of its own, in a group of its own: the tests of the shared one may run after this one
      const agent = await startUnprivilegedAgent(cluster, "u2", "unpriv-killed", ["--no-pid-namespace"]);
      const tag = `orphaned${Date.now()}`;
      await unprivilegedRun(`${escapes(tag, "/tmp", "env -i ", 60)}\nsleep 120`, "", "unpriv-killed");
      await waitFor("the escapees", () => liveProcesses(`/tmp/${tag}-`) >= 3, 20_000);
      process.kill(agent.pid, "SIGKILL");
      // the watchdog acts once the lease (5 s here) has lapsed
      await waitFor("every escapee to end", () => liveProcesses(`/tmp/${tag}-`) === 0, 25_000);
    },
    60_000,
  );

  test("the idle agent's watchdog waits between its looks without starting a process each time", async () => {
    const [watchdog, ...others] = children(agentPid).filter((pid) => readCmdline(pid).includes("drover-watchdog"));
    expect(watchdog).toBeDefined();
    expect(others).toEqual([]);
    // it looks every 200 ms: a `sleep` between looks would be its child most of the time
    let seen = 0;
    for (let i = 0; i < 20; i++) {
      seen += children(watchdog!).length;
      await Bun.sleep(50);
    }
    expect(seen).toBe(0);
  });

  test("the agent's environment never reaches a step", async () => {
    const id = await cluster.submit("tasks:\n  t:\n    steps:\n      - run: env | cut -d= -f1 | sort\n");
    await cluster.waitRun(id);
    const names = (await cluster.log(id, "t", 0)).trim().split("\n");
    expect(names).not.toContain("DROVER_AGENT_TOKEN");
    expect(names).not.toContain("DROVER_TEST_AGENT_ONLY");
    expect(names).toContain("DROVER_WORKSPACE");
  });
});
