import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Cgroups } from "../../agent/executor/cgroups.ts";
import { Executor, type StepStart } from "../../agent/executor/executor.ts";
import { detectPidNamespace } from "../../agent/executor/pid-namespace.ts";
import { SpareFiles } from "../../shared/spare-files.ts";
import { Watchdog } from "../../agent/executor/watchdog.ts";

// A host step started ahead (agent/executor/warm-start.ts) against one started cold, through the real executor: the
// step's shell must not tell them apart.

const ns = detectPidNamespace();

/**
 * What a step's shell can see of itself, but for the values that differ from any start to the next, and whether its
 * script file is still linked (a warm step's stays in the agent's spool until it ends: warm-start.ts).
 */
const PROBE = `echo "first _=$_ ?=$? 0=$0 LINENO=$LINENO -=$- PPID=$PPID pid=$$ SECONDS=$SECONDS"
echo "PID1 $(tr '\\0\\n' ' ~' </proc/1/cmdline)"
declare -p | grep -vE '^declare (-[a-zA-Z-]+ )?(BASHPID|EPOCHREALTIME|EPOCHSECONDS|RANDOM|SRANDOM|SECONDS|BASH_LINENO|BASH_SOURCE|_)='
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
let executor: Executor;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "drover-warm-"));
  const own = join(dir, "own");
  mkdirSync(own);
  const spares = new SpareFiles(join(own, "spare"));
  const lease = join(own, "lease");
  writeFileSync(lease, `${Date.now() + 600_000}\n`);
  executor = new Executor({
    kind: "host",
    runAs: null,
    workRoot: dir,
    hide: [],
    readOnly: [],
    maxProcesses: 100,
    cgroups: Cgroups.detect(`drover-warmtest-${process.pid}`),
    pidNamespace: ns,
    watchdog: new Watchdog(own, lease, spares),
    spares,
  });
});
afterAll(() => {
  executor.close();
  rmSync(dir, { recursive: true, force: true });
});

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
    // the executor made a warm process as it started; the first step takes it, the second (none ready yet) starts cold
    await Bun.sleep(200);
    const env = { QUOTED: "it's a\nline", EMPTY: "" };
    const started = ["warm", "cold"].map((name) => {
      const s = step(name, PROBE, env);
      return { s, proc: executor.start(s) };
    });
    const seen: string[] = [];
    const pid1: string[] = [];
    for (const { s, proc } of started) {
      const result = await proc.wait();
      const lines = readFileSync(s.outputPath, "utf8").replaceAll(`${s.name}.out`, "OUT").split("\n");
      pid1.push(lines.splice(1, 1)[0]!);
      seen.push(`${lines.join("\n")}exit ${result.exitCode} ${result.signal}`);
    }
    // the first was started ahead (its PID 1 was given no `init` item: it had none to be given), the second cold
    expect(pid1[0]).toMatch(/ drover-step \S+ (cg=\S+ )*-- bash -e \/dev\/fd\/3 $/);
    expect(pid1[1]).toMatch(/ drover-step \S+ (cg=\S+ )*init -- bash -e \/dev\/fd\/3 $/);
    const line = PROBE.split("\n").findIndex((l) => l.includes("line $LINENO")) + 1;
    expect(seen[0]).toEndWith(`\nline ${line}\nexit 1 null`);
    expect(seen[0]).not.toContain("not reached");
    expect(seen[0]).toMatch(/^first _=\S*bash \?=0 0=\/dev\/fd\/3 LINENO=1 -=ehB PPID=1 pid=2 SECONDS=0\n/);
    expect(seen[0]).toContain("declare -x QUOTED=$'it\\'s a\\nline'\n");
    expect(seen[0]).toBe(seen[1]!);
  }, 30_000);
});
