import { afterAll, beforeAll, beforeEach, describe, expect, test } from "bun:test";
import { closeSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Cgroups, removeGroup } from "../../agent/executor/cgroups.ts";
import { type RunAs, resolveRunAs } from "../../agent/executor/run-as.ts";
import type { Cluster } from "../helpers/cluster.ts";
import { ensureStepUser, STEP_USER } from "../helpers/unprivileged-agent.ts";
import { Executor, type StepStart } from "../../agent/executor/executor.ts";
import { sandboxUnavailable } from "../../agent/executor/sandbox.ts";
import type { WarmSandbox, WarmSandboxes } from "../../agent/executor/warm-sandbox.ts";
import { Watchdog } from "../../agent/executor/watchdog.ts";
import { SpareFiles } from "../../shared/spare-files.ts";

// A sandboxed step started ahead (agent/executor/warm-sandbox.ts) against one started cold, through the real executor:
// the step must not tell them apart, but for where its dir is mounted.

const PROBE = `echo "first _=$_ ?=$? 0=$0 LINENO=$LINENO -=$- PPID=$PPID pid=$$ SECONDS<2=$((SECONDS < 2))"
declare -p | grep -vE '^declare (-[a-zA-Z-]+ )?((BASHPID|EPOCHREALTIME|EPOCHSECONDS|RANDOM|SRANDOM|SECONDS|BASH_LINENO|BASH_SOURCE|_)(=|$)|BASH_ARGC=)'
declare -F; shopt -p; set -o; trap -p; umask; ulimit -a
pwd; pwd -P; echo "$PWD|$OLDPWD|\${OLDPWD-unset}"; id; hostname
grep -E '^(SigIgn|SigCgt|Cap|NoNewPrivs|Seccomp|Uid|Gid|Groups)' /proc/$$/status
fds=$(mktemp); ls -l /proc/$$/fd/ >"$fds"; awk 'NR > 1 {print $9, $10, $11, $12}' "$fds"; rm "$fds"
tr '\\0' '\\n' </proc/$$/cmdline; echo
env | sort
cat /proc/$$/cgroup
ls /sys/class/net; cat /proc/net/dev | tail -n +3 | cut -d: -f1
for n in /proc/sys/kernel/ns_last_pid /proc/1/comm; do cat $n; done
ls -la /proc/self/ns | awk 'NR > 1 {print $9}'
ls -la .. | awk 'NR > 1 {print $1, $3, $4, $9}'; ls -la / /tmp /dev/shm | awk '{print $1, $3, $4, $9}'
find "$WORK_ROOT" -mindepth 1 -not -path "$PWD/*" 2>&1
for escape in 'echo x >"$WORK_ROOT/attempts/other"' 'mv "$PWD" "$PWD.moved"' 'chmod 777 ..'; do (eval "$escape") 2>&1 | sed 's/^.*: //' || true; done
echo in >mine; cat mine
awk '{print $5, $9, $6, $10, $11}' /proc/self/mountinfo | sort
x=äö; echo "\${#x}"
echo "line $LINENO"
false
echo not reached`;

const unavailable = process.getuid?.() !== 0 ? "not root" : sandboxUnavailable();

let dir: string;
let executor: Executor;

function sandboxExecutor(runAs: RunAs | null): Executor {
  const own = join(dir, "own");
  const spares = new SpareFiles(join(own, "spare"));
  const lease = join(own, "lease");
  return new Executor({
    kind: "sandbox",
    runAs,
    workRoot: dir,
    hide: [],
    readOnly: [],
    maxProcesses: 100,
    cgroups: Cgroups.detect(`drover-warmbox-${process.pid}`),
    pidNamespace: { unavailable: "the sandbox makes its own" },
    watchdog: new Watchdog(own, lease, spares),
    // as the lease file says: the tests move it there
    leaseDeadline: () => Number(readFileSync(lease, "latin1")),
    spares,
    spareDirs: new SpareFiles(join(own, "spare-dirs"), 4, "dir"),
    sandboxSlots: join(dir, `sandboxes${runAs ? `-${runAs.name}` : ""}`),
  });
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "drover-warm-sandbox-"));
  mkdirSync(join(dir, "own"));
  mkdirSync(join(dir, "attempts"), { mode: 0o711 });
  writeFileSync(join(dir, "own", "lease"), `${Date.now() + 600_000}\n`);
  executor = sandboxExecutor(null);
});
afterAll(async () => {
  await executor?.close();
  rmSync(dir, { recursive: true, force: true });
});

/** The executor's sandboxes started ahead (ended with `stop` to make the next start a cold one). */
const warmSandboxes = () => (executor as unknown as { warmSandboxes: WarmSandboxes }).warmSandboxes;

function step(attempt: string, name: string, command: string, env: Record<string, string> = {}, on = executor): StepStart {
  const work = join(dir, "attempts", attempt);
  if (!existsSync(work)) on.newDir(work);
  on.own(work);
  const outputPath = join(dir, `${attempt}-${name}.out`);
  on.newFile(outputPath);
  const base = { PATH: "/usr/local/bin:/usr/bin:/bin", HOME: "/tmp", LANG: "C.UTF-8", DROVER_ATTEMPT_ID: attempt, WORK_ROOT: dir };
  return { attempt, name, command, dir: work, env: { ...base, ...env }, outputPath, memoryBytes: null, network: false };
}

describe.skipIf(unavailable !== null)("sandboxes started ahead", () => {
  // Tests run in a random order and share the executor: each starts as after the agent's start, with only sandboxes
  // without network access started ahead, whatever kind the test before it left waiting.
  beforeEach(() => {
    const boxes = warmSandboxes() as unknown as { network: boolean; stop(): void; prepare(): void };
    boxes.stop();
    boxes.network = false;
    boxes.prepare();
  });

  test("a step in a sandbox started ahead sees what one in a cold sandbox sees: mounts, environment, user, network, processes, descriptors", async () => {
    const env = { QUOTED: "it's a\nline", EMPTY: "" };
    const parent = join(dir, "attempts");
    const dirMount = (at: string) => new RegExp(`^${at} (?=\\S+ rw,)`, "m");
    /** a step in a sandbox started ahead, then one in a cold one (the others ended first); what each printed */
    const round = async (n: number) => {
      executor.prepareAhead();
      await Bun.sleep(300);
      const started = [`attempt${n}w`, `attempt${n}c`].map((attempt) => {
        const s = step(attempt, "probe", PROBE, env);
        writeFileSync(s.outputPath, "before\n");
        const proc = executor.start(s);
        warmSandboxes().stop();
        return { s, proc };
      });
      const seen: string[] = [];
      for (const { s, proc } of started) {
        const result = await proc.wait();
        seen.push(`${readFileSync(s.outputPath, "utf8").replaceAll(s.attempt, "ATTEMPT")}exit ${result.exitCode} ${result.signal}`);
        // its dir is back where it was, with what the step wrote
        expect(readFileSync(join(s.dir, "mine"), "utf8")).toBe("in\n");
      }
      return seen as [string, string];
    };
    // On a loaded machine the sandbox started ahead may not be up when the step comes, and the step then starts cold
    // (as it should): such a round compares nothing, and is run again.
    let [warm, cold] = await round(1);
    for (let n = 2; n <= 4 && !dirMount(parent).test(warm); n++) {
      console.error(`round ${n - 1}: the first step started cold (no sandbox was waiting); again`);
      [warm, cold] = await round(n);
    }
    expect(warm).toStartWith("before\nfirst _=bash ?=0 0=/dev/fd/3 LINENO=1 -=ehB PPID=1 pid=2 SECONDS<2=1\n");
    expect(warm).toContain("declare -x QUOTED=$'it\\'s a\\nline'\n");
    expect(warm).toEndWith("\n2\nline 19\nexit 1 null");
    // What differs: the script's name in the agent's spool (deleted), and the mount its dir comes in: its own in a
    // cold sandbox, under which its parent is a dir the step may write (in the sandbox's tmpfs, and its own mount
    // point it cannot move); the slot in a warm one, which it cannot write at all. The mount is of the same kind.
    // The host's mounts of other test files running meanwhile (a small tmpfs under the temp dir) come and go between
    // the two sandboxes' starts: only this test's own are compared.
    const othersMounts = new RegExp(`^${tmpdir()}/drover-(?!warm-sandbox-)\\S* .*\n`, "gm");
    const differs = (text: string) =>
      text
        .replace(othersMounts, "")
        .replace(/^(3|255) -> .*\(deleted\)\n/gm, "$1 -> SCRIPT\n")
        .replace(/^d[rwx-]{9} (nobody nogroup|root root) \.\n/m, "PARENT\n")
        .replace(/^(Permission denied|Operation not permitted|Device or resource busy)\n/gm, "")
        .replace(dirMount(`${parent}/ATTEMPT`), "DIR MOUNT ")
        .replace(dirMount(parent), "DIR MOUNT ");
    expect(warm).toMatch(dirMount(parent));
    expect(cold).toMatch(dirMount(`${parent}/ATTEMPT`));
    expect(warm).toContain("dr-xr-xr-x nobody nogroup .\n");
    expect(warm).toContain("Permission denied\nPermission denied\nOperation not permitted\n");
    expect(differs(warm)).toBe(differs(cold));
  }, 30_000);

  /** Runs `s` and returns its output, how it ended, and whether it was started ahead. */
  async function ran(s: StepStart, on = executor): Promise<{ out: string; exit: number | null; ahead: boolean }> {
    const result = await on.start(s).wait();
    const out = readFileSync(s.outputPath, "utf8");
    return { out: out.replace(/^PID1 .*\n/m, ""), exit: result.exitCode, ahead: /^PID1 .*--setenv BASH_ENV /m.test(out) };
  }
  const pid1Line = `echo "PID1 $(tr '\\0\\n' ' ~' </proc/1/cmdline)"`;
  const slots = () => readdirSync(join(dir, "sandboxes")).filter((n) => /^\d+$/.test(n));

  test("an attempt's steps each find what the last one left, its dir back in place between them; the first with network access starts cold, the next ahead, with it", async () => {
    await Bun.sleep(300);
    const first = await ran(step("attempt3", "0", `${pid1Line}\necho one >f; ls ..`));
    expect(first).toEqual({ out: "attempt3\n", exit: 0, ahead: true });
    expect(readFileSync(join(dir, "attempts", "attempt3", "f"), "utf8")).toBe("one\n");
    for (const slot of slots()) expect(readdirSync(join(dir, "sandboxes", slot))).toEqual([]);
    await Bun.sleep(300);
    const second = await ran(step("attempt3", "1", `${pid1Line}\ncat f; cut -d: -f1 /proc/net/dev | tail -n +3 | tr -d ' '`));
    expect(second).toEqual({ out: "one\nlo\n", exit: 0, ahead: true });
    // the first asking for network access starts cold, the next finds theirs; then one without finds its own still
    const online = (n: number) => ({ ...step("attempt3", String(n), `${pid1Line}\ncat f; cut -d: -f1 /proc/net/dev | tail -n +3 | grep -vc lo`), network: true });
    for (const [n, ahead] of [[2, false], [3, true]] as const) {
      await Bun.sleep(300);
      const seen = await ran(online(n));
      expect(seen.ahead).toBe(ahead);
      expect(seen.out).toMatch(/^one\n[1-9]\d*\n$/);
    }
    await Bun.sleep(300);
    expect(await ran(step("attempt3", "4", `${pid1Line}\ncat f; cut -d: -f1 /proc/net/dev | tail -n +3 | tr -d ' '`))).toEqual({ out: "one\nlo\n", exit: 0, ahead: true });
  }, 30_000);

  test("with --run-as, a step started ahead runs as that user, and its start, script and output reach it, a start larger than a pipe takes at once too", async () => {
    ensureStepUser({ dir } as Cluster);
    const user = resolveRunAs(STEP_USER);
    const runAs = sandboxExecutor(user);
    try {
      await Bun.sleep(300);
      const s = step("attempt6", "0", `${pid1Line}\nid -u; echo mine >f; stat -c %u f`, {}, runAs);
      expect(await ran(s, runAs)).toEqual({ out: `${user.uid}\n${user.uid}\n`, exit: 0, ahead: true });
      await Bun.sleep(300);
      const large = step("attempt6", "1", `${pid1Line}\necho "\${#BIG} \${BIG:0:3}"`, { BIG: "it's".repeat(2000) }, runAs);
      expect(await ran(large, runAs)).toEqual({ out: "8000 it'\n", exit: 0, ahead: true });
    } finally {
      runAs.close();
    }
  }, 30_000);

  test("a sandbox started ahead runs nothing once the lease lapsed, nor when its start never comes or cannot be handed over; a step stopped as it starts ends at once", async () => {
    await Bun.sleep(300);
    const lease = join(dir, "own", "lease");
    writeFileSync(lease, `${Date.now() - 1}\n`);
    const waiting = () => (warmSandboxes() as unknown as { ready: unknown[] }).ready.length;
    try {
      // taken ahead (one fewer waits), and it checks the deadline it was given
      const before = waiting();
      const late = executor.start(step("attempt4", "0", `${pid1Line}\necho ran`));
      expect(waiting()).toBe(before - 1);
      const result = await late.wait();
      expect([readFileSync(join(dir, "attempt4-0.out"), "utf8"), result.exitCode]).toEqual(["drover: the agent's lease lapsed before this step started\n", 125]);
    } finally {
      writeFileSync(lease, `${Date.now() + 600_000}\n`);
    }
    await Bun.sleep(300);
    const boxes = warmSandboxes();
    const warm = boxes.take({ dir: join(dir, "attempts", "attempt5"), network: false, env: {} })!;
    closeSync(warm.shell);
    try {
      expect(await warm.proc.exited).toBe(0);
    } finally {
      for (const d of warm.groups.dirs) removeGroup(d);
    }
    expect(readFileSync(warm.output, "utf8")).toBe("");
    boxes.prepare();
    await Bun.sleep(300);
    // one that cannot be handed its step (no dir to move) is ended, not left to run the script where it stands
    const next = (boxes as unknown as { ready: WarmSandbox[] }).ready.find((w) => !w.network)!;
    const lost = step("attempt7", "0", "echo ran");
    rmSync(lost.dir, { recursive: true });
    expect(() => executor.start(lost)).toThrow("ENOENT");
    expect(await next.proc.exited).not.toBe(0);
    expect(next.proc.signalCode).toBe("SIGKILL");
    expect(readFileSync(lost.outputPath, "utf8")).toBe("");
    boxes.prepare();
    await Bun.sleep(300);
    const started = performance.now();
    const proc = executor.start(step("attempt5", "0", "sleep 30"));
    proc.signal("SIGTERM");
    expect((await proc.wait()).exitCode).toBe(143);
    expect(performance.now() - started).toBeLessThan(5_000);
  }, 30_000);
});
