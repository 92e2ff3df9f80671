import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { ROOT, type Cluster, type RunView, startCluster } from "../helpers/cluster.ts";
import { liveProcesses, spawnTracked, waitFor } from "../helpers/processes.ts";
import { ensureStepUser, STEP_USER, startUnprivilegedAgent } from "../helpers/unprivileged-agent.ts";

// The sandbox executor, with Debian's real bwrap: every escape below is tried from inside a step and refused.

let cluster: Cluster;
let token: string;
let tokenFile: string;
/** The sandbox agent s1 (group sbx, its token in a file), started by the first test that needs it: its pid. */
let sandboxAgent: Promise<number> | undefined;
const sandbox = () =>
  (sandboxAgent ??= cluster
    .startAgent("s1", ["--executor", "sandbox", "--token-file", tokenFile, "--group", "sbx", "--capacity", "2", "--sandbox-hide", join(cluster.dir, "data")])
    .then((a) => a.proc.pid));

beforeAll(async () => {
  cluster = await startCluster();
  await cluster.startAgent("h1");
  // its own registration token, in a file: other agents on this machine show the shared test token in `ps`
  token = (await cluster.api<{ token: string }>("POST", "/api/v1/agent-tokens", { group: "sbx" })).body.token;
  mkdirSync(join(cluster.dir, "secret"), { mode: 0o700 });
  tokenFile = join(cluster.dir, "secret", "agent.token");
  writeFileSync(tokenFile, `${token}\n`, { mode: 0o600 });
});
afterAll(() => cluster.stop());

type TaskView = RunView["tasks"][number] & { statusMessage?: string | null };

describe("sandbox executor", () => {
  test("a sandbox: true task waits while only host agents are online, saying it needs a sandbox, then runs on one", async () => {
    // a group of its own, whose only sandbox agent this test starts: s1 may be online already (tests run in any order)
    const waitToken = (await cluster.api<{ token: string }>("POST", "/api/v1/agent-tokens", { group: "sbx-wait" })).body.token;
    const waitTokenFile = join(cluster.dir, "secret", "wait.token");
    writeFileSync(waitTokenFile, `${waitToken}\n`, { mode: 0o600 });
    const id = await cluster.submit("tasks:\n  boxed:\n    group: sbx-wait\n    sandbox: true\n    steps: [ { run: echo boxed } ]\n", "sbx");
    const waiting = await waitFor("the reason", async () => {
      const { body } = await cluster.api<RunView>("GET", `/api/v1/runs/${id}`);
      const task = body.tasks[0] as TaskView;
      return task.statusMessage?.includes("executor=sandbox") ? task : undefined;
    });
    expect(waiting.attempts.every((a) => !a.agentId)).toBe(true);
    await cluster.startAgent("s0", ["--executor", "sandbox", "--token-file", waitTokenFile, "--group", "sbx-wait", "--sandbox-hide", join(cluster.dir, "data")]);
    const run = await cluster.waitRun(id);
    expect(run.result).toBe("success");
    expect(await cluster.log(id, "boxed", 0)).toBe("boxed\n");
  });

  test("from inside, a step cannot read the agent's token, identity, environment, other attempts or kept workspaces, reach the coordinator, signal the agent, unmount what hides them, or write outside its dirs", async () => {
    const sandboxPid = await sandbox();
    const port = new URL(cluster.coordinator.url).port;
    const work = join(cluster.dir, "agent-s1");
    const half = token.length >> 1;
    const probe = `set +eo pipefail
leak() { echo "LEAK: $*"; }
needle="$T1$T2"
# what hides the agent's files must stay: a step with capabilities in its namespaces could unmount it
if grep -q '^CapEff:.*[1-9a-f]' /proc/self/status; then leak "holds capabilities: $(grep ^CapEff /proc/self/status)"; fi
for m in ${process.env.HOME ?? "/root"} ${work} ${tokenFile}; do if umount -l "$m" 2>/dev/null; then leak "unmounted $m"; fi; done
for f in /proc/[0-9]*/cmdline /proc/[0-9]*/environ; do if grep -qaF -- "$needle" "$f" 2>/dev/null; then leak "token in $f"; fi; done
if grep -rlaF -- "$needle" ${cluster.dir} /etc /tmp 2>/dev/null | grep -q .; then leak "token in a file"; fi
if head -c1 /proc/${sandboxPid}/environ 2>/dev/null; then leak "read the agent's environment"; fi
if head -c1 ${tokenFile} 2>/dev/null | grep -q .; then leak "read the token file"; fi
if ls ${work}/agent-s1 2>/dev/null | grep -q .; then leak "listed the agent's own dir"; fi
if ls ${work}/kept ${work}/spool 2>/dev/null | grep -q .; then leak "listed kept workspaces or spooled logs"; fi
if [ "$(ls .. | wc -l)" != 1 ]; then leak "sees other attempts: $(ls ..)"; fi
if ls ${join(cluster.dir, "data")} 2>/dev/null | grep -q .; then leak "listed the coordinator's data dir"; fi
if (exec 3<>/dev/tcp/127.0.0.1/${port}) 2>/dev/null; then leak "connected to the coordinator"; fi
if kill -0 ${sandboxPid} 2>/dev/null; then leak "can signal the agent"; fi
for f in /etc/drover-escape /usr/drover-escape /opt/drover-escape; do if echo x 2>/dev/null >"$f"; then leak "wrote $f"; fi; done
# these land in the sandbox's private /tmp, /var/tmp and home (the agent's, /root here): the test looks for them on the host
for f in ${cluster.dir}/drover-escape /var/tmp/drover-escape ${work}/drover-escape ${process.env.HOME ?? "/root"}/drover-escape; do echo x 2>/dev/null >"$f"; done
echo x >/tmp/private && echo x >/dev/shm/private && echo x >own && echo WROTE
env -0 | tr '\\0' '\\n' | cut -d= -f1 | sort | tr '\\n' ' '
echo
echo PROBED`;
    const other = await cluster.submit(
      "tasks:\n  other:\n    group: sbx\n    sandbox: true\n    steps: [ { run: 'echo secret > mine; sleep 4' } ]\n",
      "sbx",
    );
    const id = await cluster.submit(
      `tasks:
  probe:
    group: sbx
    sandbox: true
    env: { T1: "${token.slice(0, half)}", T2: "${token.slice(half)}" }
    steps:
      - run: |
${probe.replace(/^/gm, "          ")}
  net:
    group: sbx
    sandbox: true
    network: true
    steps: [ { run: "(exec 3<>/dev/tcp/127.0.0.1/${port}) && echo NET-OK" } ]
`,
      "sbx",
    );
    const run = await cluster.waitRun(id, 60_000);
    const log = await cluster.log(id, "probe", 0);
    expect(`${run.result}\n${log}`).toStartWith("success\n");
    expect(log).toContain("PROBED");
    expect(log).toContain("WROTE");
    expect(log.split("\n").filter((l) => l.startsWith("LEAK"))).toEqual([]);
    for (const f of ["/etc", "/usr", "/opt", cluster.dir, "/var/tmp", join(cluster.dir, "agent-s1"), process.env.HOME ?? "/root"].map((d) => join(d, "drover-escape"))) {
      expect(existsSync(f)).toBe(false);
    }
    // exactly what Drover sets, the pipeline's, and what bash itself adds
    const bash = ["OLDPWD", "PWD", "SHLVL", "_"];
    const names = log.split("\n").find((l) => l.startsWith("CI "))!.trim().split(" ").filter((n) => !bash.includes(n));
    expect(names.filter((n) => !n.startsWith("DROVER"))).toEqual(["CI", "HOME", "LANG", "PATH", "T1", "T2"]);
    expect(names).toContain("DROVER_WORKSPACE");
    expect(await cluster.log(id, "net", 0)).toContain("NET-OK");
    expect((await cluster.waitRun(other)).result).toBe("success");
  }, 90_000);

  test("an agent asked for a sandbox it cannot make refuses to start, saying why", async () => {
    const proc = spawnTracked(
      [process.execPath, "agent/main.ts", "--coordinator", cluster.coordinator.url, "--token-file", tokenFile, "--name", "nobwrap",
        "--work-dir", join(cluster.dir, "nobwrap"), "--executor", "sandbox"],
      { cwd: ROOT, env: { PATH: "/nonexistent" } },
    );
    expect(await proc.exited).toBe(2);
    expect(await new Response(proc.stderr).text()).toContain("--executor sandbox: bwrap is not installed");
    // a bwrap that cannot make namespaces, as where user namespaces are blocked, answers like this one
    const fake = join(cluster.dir, "fake-bin");
    mkdirSync(fake, { recursive: true });
    writeFileSync(join(fake, "bwrap"), "#!/bin/sh\necho 'bwrap: setting up uid map: Permission denied' >&2\nexit 1\n", { mode: 0o755 });
    const blocked = spawnTracked(
      [process.execPath, "agent/main.ts", "--coordinator", cluster.coordinator.url, "--token-file", tokenFile, "--name", "nouserns",
        "--work-dir", join(cluster.dir, "nouserns"), "--executor", "sandbox"],
      { cwd: ROOT, env: { PATH: `${fake}:/usr/bin:/bin` } },
    );
    expect(await blocked.exited).toBe(2);
    const said = await new Response(blocked.stderr).text();
    expect(said).toContain("bwrap cannot make a sandbox here: bwrap: setting up uid map: Permission denied");
    expect(said).toContain("user namespaces are blocked");
    // a bwrap older than the options steps are given (--cap-drop came in 0.3): refused at start, not failing each step
    const old = join(cluster.dir, "old-bin");
    mkdirSync(old, { recursive: true });
    writeFileSync(join(old, "bwrap"), `#!/bin/sh\ncase "$*" in *--cap-drop*) echo 'bwrap: Unknown option --cap-drop' >&2; exit 1;; esac\nexec /usr/bin/bwrap "$@"\n`, {
      mode: 0o755,
    });
    const older = spawnTracked(
      [process.execPath, "agent/main.ts", "--coordinator", cluster.coordinator.url, "--token-file", tokenFile, "--name", "oldbwrap",
        "--work-dir", join(cluster.dir, "oldbwrap"), "--executor", "sandbox"],
      { cwd: ROOT, env: { PATH: `${old}:/usr/bin:/bin` } },
    );
    expect(await older.exited).toBe(2);
    expect(await new Response(older.stderr).text()).toContain("bwrap cannot make a sandbox here: bwrap: Unknown option --cap-drop");
  });

  test.skipIf(process.getuid?.() !== 0)(
    "with --run-as, a sandboxed step runs as that user, cannot read what only root can, and workspaces and caches still flow",
    async () => {
      ensureStepUser(cluster);
      await cluster.startAgent("sr1", ["--executor", "sandbox", "--run-as", STEP_USER, "--label", "who=sr1"]);
      const rootOnly = join(cluster.dir, "root-only.txt");
      writeFileSync(rootOnly, "only root\n", { mode: 0o600 });
      const uid = Bun.spawnSync(["id", "-u", STEP_USER]).stdout.toString().trim();
      const on = "    labels: { who: sr1 }\n    sandbox: true\n";
      const id = await cluster.submit(`tasks:
  build:
${on}    steps:
      - run: |
          set +e
          echo "ID $(id -un) $(id -u)"
          if head -c1 /etc/shadow >/dev/null 2>&1; then echo "LEAK: read /etc/shadow"; fi
          if head -c1 ${rootOnly} 2>/dev/null; then echo "LEAK: read a root-only file"; fi
          mkdir -p dist deps && echo built > dist/out.txt && echo lock > deps.lock && echo cached > deps/lib.txt
          echo "OWNER $(stat -c %U dist/out.txt)"
      - save_to_workspace: { paths: ['dist/**'] }
      - save_cache: { key: 'runas-{{ checksum "deps.lock" }}', paths: [deps] }
  use:
${on}    depends: [build]
    steps:
      - restore_workspace: {}
      - restore_cache: { keys: ['runas-'] }
      - run: |
          test "$(cat dist/out.txt)" = built && test "$(cat deps/lib.txt)" = cached
          echo more >> dist/out.txt && echo "USE-OK $(id -u)"
`);
      const run = await cluster.waitRun(id, 60_000);
      const log = await cluster.log(id, "build", 0);
      expect(`${run.result}\n${log}`).toStartWith("success\n");
      expect(log).toContain(`ID ${STEP_USER} ${uid}\n`);
      expect(log).toContain(`OWNER ${STEP_USER}\n`);
      expect(log.split("\n").filter((l) => l.startsWith("LEAK"))).toEqual([]);
      expect(await cluster.log(id, "use", 0)).toMatch(/^restored the workspace of build: 1 file/);
      expect(await cluster.log(id, "use", 1)).toMatch(/^restored cache runas-[0-9a-f]{64} /);
      expect(await cluster.log(id, "use", 2)).toBe(`USE-OK ${uid}\n`);
    },
    90_000,
  );

  test("a cancel gives a sandboxed step its SIGTERM and the grace, as on the host", async () => {
    // an agent of its own, whatever order the tests run in
    await cluster.startAgent("sg1", ["--executor", "sandbox", "--label", "who=sg1"]);
    const id = await cluster.submit(
      "tasks:\n  t:\n    labels: { who: sg1 }\n    sandbox: true\n    steps:\n      - run: |\n          trap 'echo got TERM; sleep 0.5; echo cleaned up; exit 3' TERM\n          echo ready\n          sleep 60 & wait\n",
    );
    await waitFor("the step to start", async () => ((await cluster.log(id, "t", 0)).includes("ready") ? true : undefined), 20_000);
    await cluster.api("POST", `/api/v1/runs/${id}/cancel`);
    expect((await cluster.waitRun(id)).phase).toBe("cancelled");
    expect(await cluster.log(id, "t", 0)).toBe("ready\ngot TERM\ncleaned up\n");
  }, 60_000);

  test.skipIf(process.getuid?.() !== 0)(
    "an unprivileged sandbox agent (no cgroup, no supervisor) ends a step's daemons with the sandbox",
    async () => {
      await startUnprivilegedAgent(cluster, "su1", "sbxu", ["--executor", "sandbox"]);
      const tag = `sbxdaemon${Date.now()}`;
      const id = await cluster.submit(
        `tasks:\n  t:\n    group: sbxu\n    sandbox: true\n    steps:\n      - run: |\n          setsid sh -c 'sleep 1000' ${tag}-setsid &\n          ( sh -c 'sleep 1000' ${tag}-forked & ) &\n          until [ "$(ps -eo args | grep -c '${tag}-')" -ge 3 ]; do sleep 0.05; done\n`,
        "sbxu",
      );
      expect((await cluster.waitRun(id)).result).toBe("success");
      // bubblewrap's outer process exits once its PID 1 reports the step's status, and the kernel ends the rest of
      // the namespace as that PID 1 exits, a moment later: on a loaded machine, after the run's end is stored (CI seed
      // 583842943 found both daemons still there)
      await waitFor("the daemons to end with the sandbox", () => liveProcesses(`${tag}-`) === 0, 5_000);
    },
    60_000,
  );
});
