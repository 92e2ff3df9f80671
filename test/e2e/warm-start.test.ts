import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { closeSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Cgroups, removeGroup } from "../../agent/executor/cgroups.ts";
import { Executor, type StepStart } from "../../agent/executor/executor.ts";
import { detectPidNamespace } from "../../agent/executor/pid-namespace.ts";
import { SpareFiles } from "../../shared/spare-files.ts";
import type { WarmStarts } from "../../agent/executor/warm-start.ts";
import { Watchdog } from "../../agent/executor/watchdog.ts";

// A host step started ahead (agent/executor/warm-start.ts) against one started cold, through the real executor: the
// step's shell must not tell them apart.

const ns = detectPidNamespace();

/**
 * What a step's shell can see of itself, but for the values that differ from any start to the next (or that are
 * filled in once read), whether its script file is still linked (a warm step's stays in the agent's spool until it
 * ends: warm-start.ts), and BASH_ARGC, where a shell that read a BASH_ENV (warm-shell-start.sh) keeps a count of 0 for
 * it that no builtin can take back (bash 5.2; it is read only under extdebug).
 */
const PROBE = `echo "first _=$_ ?=$? 0=$0 LINENO=$LINENO -=$- PPID=$PPID pid=$$ SECONDS<2=$((SECONDS < 2))"
echo "PID1 $(tr '\\0\\n' ' ~' </proc/1/cmdline)"
declare -p | grep -vE '^declare (-[a-zA-Z-]+ )?((BASHPID|EPOCHREALTIME|EPOCHSECONDS|RANDOM|SRANDOM|SECONDS|BASH_LINENO|BASH_SOURCE|_)(=|$)|BASH_ARGC=)'
declare -F; shopt -p; set -o; trap -p; umask; ulimit -a
pwd; pwd -P; echo "$PWD|$OLDPWD|\${OLDPWD-unset}"
grep -E '^(SigIgn|SigCgt|Cap|NoNewPrivs|Uid|Gid|Groups)' /proc/$$/status
fds=$(mktemp); ls -l /proc/$$/fd/ >"$fds"; awk '{print $9, $10, $11}' "$fds"; rm "$fds"
tr '\\0' '\\n' </proc/$$/cmdline; echo
env | sort
sed 's#/[^/]*$#/GROUP#' /proc/$$/cgroup
x=äö; echo "\${#x}"
echo "line $LINENO"
false
echo not reached`;

let dir: string;
let lease: string;
let executor: Executor;

/** A host executor whose private dir is `own` under `root` (made here), with its lease file there. */
function hostExecutor(root: string, own: string, cgroup: string): { executor: Executor; watchdog: Watchdog; lease: string } {
  mkdirSync(own);
  const spares = new SpareFiles(join(own, "spare"));
  const lease = join(own, "lease");
  writeFileSync(lease, `${Date.now() + 600_000}\n`);
  const watchdog = new Watchdog(own, lease, spares);
  const executor = new Executor({
    kind: "host",
    runAs: null,
    workRoot: root,
    hide: [],
    readOnly: [],
    maxProcesses: 100,
    cgroups: Cgroups.detect(cgroup),
    pidNamespace: ns,
    watchdog,
    // as the lease file says: the tests move it there
    leaseDeadline: () => Number(readFileSync(lease, "latin1")),
    spares,
    spareDirs: new SpareFiles(join(own, "spare-dirs"), 4, "dir"),
    sandboxSlots: join(root, "sandboxes"),
  });
  return { executor, watchdog, lease };
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "drover-warm-"));
  ({ executor, lease } = hostExecutor(dir, join(dir, "own"), `drover-warmtest-${process.pid}`));
});
afterAll(async () => {
  await executor.close();
  rmSync(dir, { recursive: true, force: true });
});

/** The executor's warm starts (ended with `stop` to make the next start a cold one). */
const warmStarts = () => (executor as unknown as { warm: WarmStarts }).warm;

function step(name: string, command: string, env: Record<string, string> = {}): StepStart {
  const work = join(dir, "work");
  mkdirSync(work, { recursive: true });
  const outputPath = join(dir, `${name}.out`);
  executor.newFile(outputPath);
  const base = { PATH: "/usr/local/bin:/usr/bin:/bin", HOME: "/root", LANG: "C.UTF-8", DROVER_ATTEMPT_ID: "a1" };
  return { attempt: "a1", name, command, dir: work, env: { ...base, ...env }, outputPath, memoryBytes: null, network: true };
}

describe.skipIf("unavailable" in ns)("warm starts", () => {
  test("a step's shell started ahead sees what a cold one sees: environment, variables, options, cwd, descriptors, signals, exit status", async () => {
    // the executor made warm processes as it started; the first step takes one, the second (none left) starts cold.
    // It has waited over 2 s: a count of SECONDS not restarted for the step would show it (the probe prints whether it
    // is under 2, as a count restarted just before a second's boundary reads 1)
    await Bun.sleep(2_100);
    const env = { QUOTED: "it's a\nline", EMPTY: "" };
    const started = ["warm", "cold"].map((name) => {
      const s = step(name, PROBE, env);
      const proc = executor.start(s);
      warmStarts().stop();
      return { s, proc };
    });
    const seen: string[] = [];
    const pid1: string[] = [];
    for (const { s, proc } of started) {
      const result = await proc.wait();
      const lines = readFileSync(s.outputPath, "utf8").replaceAll(`${s.name}.out`, "OUT").split("\n");
      pid1.push(lines.splice(1, 1)[0]!);
      seen.push(`${lines.join("\n")}exit ${result.exitCode} ${result.signal}`);
    }
    // the first was started ahead with its shell (warm-shell.sh gives it its BASH_ENV), the second cold
    expect(pid1[0]).toContain("BASH_ENV=/dev/fd/4");
    expect(pid1[0]).toMatch(/ drover-step \S+ \S+ (cg=\S+ )*-- bash -e \/dev\/fd\/3 $/);
    expect(pid1[1]).toMatch(/ drover-step \S+ (cg=\S+ )*init -- bash -e \/dev\/fd\/3 $/);
    const line = PROBE.split("\n").findIndex((l) => l.includes("line $LINENO")) + 1;
    expect(seen[0]).toEndWith(`\nline ${line}\nexit 1 null`);
    expect(seen[0]).not.toContain("not reached");
    expect(seen[0]).toMatch(/^first _=\S*bash \?=0 0=\/dev\/fd\/3 LINENO=1 -=ehB PPID=1 pid=2 SECONDS<2=1\n/);
    expect(seen[0]).toContain("declare -x QUOTED=$'it\\'s a\\nline'\n");
    expect(seen[0]).toBe(seen[1]!);
  }, 30_000);

  test("a step's shell started ahead has the LANG its step has, in its environment and its locale, or none", async () => {
    const probe = `${pid1Line}\necho "LANG=\${LANG-unset}"; x=äö; echo "\${#x}"`;
    const none = step("no-lang", probe);
    delete none.env.LANG;
    for (const [s, seen] of [
      [none, "LANG=unset\n4\n"],
      [step("c-lang", probe, { LANG: "C" }), "LANG=C\n4\n"],
      [step("utf8-lang", probe), "LANG=C.UTF-8\n2\n"],
    ] as const) {
      await Bun.sleep(200);
      const { out, exit, pid1 } = await ran(s);
      expect(pid1).toContain("BASH_ENV=/dev/fd/4");
      expect([out.replace(/^PID1 .*\n/, ""), exit]).toEqual([seen, 0]);
    }
  }, 30_000);

  /** Runs `s` and returns its output and how it ended. */
  async function ran(s: StepStart): Promise<{ out: string; exit: number | null; signal: string | null; pid1: string }> {
    const result = await executor.start(s).wait();
    const out = readFileSync(s.outputPath, "utf8");
    return { out, exit: result.exitCode, signal: result.signal, pid1: out.match(/^PID1 (.*)$/m)?.[1] ?? "" };
  }
  const pid1Line = `echo "PID1 $(tr '\\0\\n' ' ~' </proc/1/cmdline)"`;

  test("a step whose environment names what bash reads as it starts goes cold; one that comes after the lease lapsed runs nothing", async () => {
    await Bun.sleep(200);
    const cold = await ran(step("shlvl", `${pid1Line}\necho "SHLVL=$SHLVL"`, { SHLVL: "5" }));
    expect(cold.out).toContain("SHLVL=6\n");
    expect(cold.pid1).toContain(" init -- bash -e /dev/fd/3 ");
    // the warm process is still there for the next step
    writeFileSync(lease, `${Date.now() - 1}\n`);
    try {
      // warm, and cold (none left)
      const late = ["late", "later"].map((name) => step(name, `${pid1Line}\necho ran`));
      const ended = await Promise.all(
        late.map((s) => {
          const proc = executor.start(s);
          warmStarts().stop();
          return proc.wait();
        }),
      );
      for (const [i, s] of late.entries()) {
        expect([readFileSync(s.outputPath, "utf8"), ended[i]!.exitCode]).toEqual(["drover: the agent's lease lapsed before this step started\n", 125]);
      }
    } finally {
      writeFileSync(lease, `${Date.now() + 600_000}\n`);
    }
  }, 30_000);

  test("a step whose start is more than a pipe takes at once (a large environment) starts ahead too, its start read from a file", async () => {
    await Bun.sleep(200);
    const big = `it's ${"x".repeat(5000)}`;
    const seen = await ran(step("large-start", `${pid1Line}\necho "\${#BIG} \${BIG:0:6} $SMALL"`, { BIG: big, SMALL: "small" }));
    expect(seen.pid1).toContain("BASH_ENV=/dev/fd/4");
    expect(seen.out.replace(/^PID1 .*\n/m, "")).toBe(`${big.length} it's x small\n`);
    expect(seen.exit).toBe(0);
  }, 30_000);

  test("a warm shell whose start never comes (the agent died) exits having run nothing; a step stopped as it starts ends at once", async () => {
    await Bun.sleep(200);
    const warms = warmStarts();
    const warm = warms.take({})!;
    expect(warm.shell).toBeNumber();
    closeSync(warm.shell!);
    try {
      // no script to open: bash says so and exits 1
      expect(await warm.proc.exited).toBe(1);
    } finally {
      for (const d of warm.groups.dirs) removeGroup(d);
    }
    warms.prepare();
    await Bun.sleep(200);
    // stopped while its shell may still be reading its start: the shell takes the SIGTERM (143), sleep never runs long
    const started = performance.now();
    const proc = executor.start(step("stopped", "sleep 30"));
    proc.signal("SIGTERM");
    expect((await proc.wait()).exitCode).toBe(143);
    expect(performance.now() - started).toBeLessThan(5_000);
  }, 30_000);

  test("the watchdog and the processes started ahead have exited once stopping them resolves (an agent that exits leaves none of them)", async () => {
    // an executor of its own: this one is closed for good
    const leaving = hostExecutor(dir, join(dir, "leaving"), `drover-warmtest-leaving-${process.pid}`);
    const warm = () => (leaving.executor as unknown as { warm: { ready: { proc: { pid: number } }[] } }).warm.ready;
    leaving.watchdog.start();
    const watchdogPid = Number(readFileSync(join(dir, "leaving", "watchdog.pid"), "latin1"));
    const warmPids = warm().map((w) => w.proc.pid);
    expect(warmPids.length).toBeGreaterThan(0);
    // reaped, not only killed: a process killed but not yet waited for is still in /proc
    await Promise.all([leaving.watchdog.stop(), leaving.executor.close()]);
    expect([watchdogPid, ...warmPids].filter((pid) => existsSync(`/proc/${pid}`))).toEqual([]);
    // a step ending as the agent leaves starts nothing ahead any more
    leaving.executor.prepareAhead();
    expect(warm()).toEqual([]);
  }, 30_000);
});
