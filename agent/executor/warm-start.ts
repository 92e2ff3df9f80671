import { closeSync, fchownSync, openSync, writeFileSync, writeSync } from "node:fs";
import type { Subprocess } from "bun";
import { libc } from "../../shared/libc.ts";
import type { SpareFiles } from "../../shared/spare-files.ts";
import type { StepGroups } from "./cgroups.ts";
import { LEASE_LAPSED } from "./watchdog.ts";
import { STEP_LANG } from "./step-lang.ts";

import warmShellScript from "./warm-shell.sh" with { type: "text" };
import warmShellStart from "./warm-shell-start.sh" with { type: "text" };
import warmStartScript from "./warm-start.sh" with { type: "text" };

/**
 * The script and start files of a step started warm (the start only where it is too large for the pipe: `startCall`),
 * next to its output in the agent's spool (its attempt's, for the cleanup after a lost agent). They are removed as the
 * step ends: the waiting process runs no `rm`.
 */
export function warmFiles(outputPath: string): [script: string, start: string] {
  return [`${outputPath}.sh`, `${outputPath}.start`];
}

/** The step's start in a shell started ahead, which the shell parses as it starts (warm-shell.sh, warm-sandbox.sh) */
export const SHELL_FUNCTIONS = `${LEASE_LAPSED}\n${warmShellStart}`;

/** What the step's environment may hold to be handed over as `export NAME=value`: a name bash takes. */
const NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/**
 * What a shell started ahead could not take as a new one would (bash reads them as it starts, or they are its start's
 * own): a step whose environment holds one starts otherwise.
 */
const STARTUP = /^(BASH.*|ENV|SHELLOPTS|POSIXLY_CORRECT|SHLVL|PWD|OLDPWD|IFS|PS4|SECONDS|_drover_.*|_)$/;

/** Whether a step with this environment can be handed to a process started ahead (its shell too, or not). */
export function startsAhead(env: Record<string, string>, shell: boolean): boolean {
  const names = Object.keys(env);
  return names.every((k) => NAME.test(k)) && !(shell && names.some((k) => STARTUP.test(k)));
}

/**
 * Where a bash started with no environment looks for commands: where a PID 1 of bash would find the step's shell,
 * which then has that path as its `$_` (a PID 1 of dash does not say it: it is given).
 */
const BASH_DEFAULT_PATH = "/usr/local/bin:/usr/local/sbin:/usr/bin:/usr/sbin:/bin:/sbin:.";

/**
 * A PID 1 of bash, with no environment. --norc: a socket as stdin (Bun's "pipe") makes bash -c take itself for rshd's
 * and read ~/.bashrc of the agent's user, whose environment and descriptors would reach the step.
 */
const BASH_INIT: { shell: string[]; env: Record<string, string> } = { shell: ["bash", "--norc", "-c"], env: {} };

/** processes kept waiting (prepare) */
const READY = 2;

// <fcntl.h>
const O_CLOEXEC = 0o2000000;

/** A pipe (Bun's "pipe" is a socket, which bash cannot open as /dev/fd/N), the agent's end close-on-exec. */
export function pipe(): [read: number, write: number] | null {
  const fds = new Int32Array(2);
  return libc()?.pipe2(fds, O_CLOEXEC) === 0 ? [fds[0]!, fds[1]!] : null;
}

/** A word bash reads back as `s`. */
const quoted = (s: string) => `'${s.replaceAll("'", "'\\''")}'`;

/** What a pipe takes at once, however few pages its user may still have for pipes: its writer never waits. */
const PIPE_BUF = 4096;

/**
 * The call that starts a step in its shell started ahead (warm-shell-start.sh), for the pipe it waits on: the call
 * itself, which the shell reads with no file to open, or where it is larger than the pipe takes at once, the call
 * written by `toFile` and what reads it there (`toFile` returns its path, as the shell sees it).
 */
export function startCall(words: string[], toFile: (call: string) => string): string {
  const call = `_drover_start ${words.map(quoted).join(" ")} "$1"\n`;
  return Buffer.byteLength(call) <= PIPE_BUF ? call : `. ${quoted(toFile(call))} "$1"\n`;
}

export type WarmProcess = Subprocess<"pipe" | "ignore", "ignore", "ignore">;

/** The step to hand to a warm process. */
export interface WarmStep {
  dir: string;
  outputPath: string;
  script: string;
  /** step-start.sh's items: ulimit=FLAGS (its cgroups were joined ahead) */
  items: string[];
  env: Record<string, string>;
  owner: { uid: number; gid: number } | null;
}

/** A process waiting for its step, in the step's groups (made ahead: the step's limits are set as it starts). */
export interface Warm {
  proc: WarmProcess;
  groups: StepGroups;
  /** the agent's end of the pipe the step's shell, started too, reads its start from (warm-shell.sh) */
  shell: number | null;
}

/** Where the groups of the warm processes come from, and go. */
export interface WarmGroups {
  make(): StepGroups;
  remove(groups: StepGroups): void;
}

/**
 * One host step's first processes started ahead, while the agent waits: its PID namespace (unshare) and the PID 1 that
 * starts the step, and where the step runs as the agent's user its shell too (warm-shell.sh): a step started cold pays
 * for all three as it starts (unshare with a fresh /proc 2.3 ms, PID 1's bash 3.3 ms, the step's bash 1 ms on an idle
 * core), a warm one for a small file and a write to a pipe (its start, `startCall`). The shell started ahead reads the
 * step's start (warm-shell-start.sh) as its BASH_ENV, so that it sees what a new shell sees
 * (test/e2e/warm-start.test.ts); a step whose environment bash would read as it starts (STARTUP) starts cold instead.
 * Where it runs as another user, who could not read the start in the agent's spool, the PID 1 alone waits
 * (warm-start.sh, then step-start.sh), on its stdin. That PID 1 is dash where there is one when the shell starts ahead
 * too (its script is plain sh): it takes 1.3-1.6 ms less CPU per step than bash, which on two cores competes with the
 * step's path. The PID 1 joins the step's cgroups ahead too (made ahead, with their process cap; the memory cap is set
 * as the step starts): a first move into a group can wait out an RCU grace period, up to 15-30 ms measured on this
 * machine under load. The rest of the step's start checks (its rlimits, the agent's lease) is still done as it starts,
 * and a warm process the agent never uses ends with the agent (EOF on its pipe: it runs nothing). The step's script and
 * any start file (its environment) stay in the agent's spool (the agent's alone) until the step ends, where a cold
 * start unlinks its script before the step's shell starts: a step of the agent's own user can read another's
 * environment in /proc anyway, and a step run as another user cannot enter the spool.
 */
export class WarmStarts {
  private readonly prefix: string[];
  /** the PID 1 that starts the step's shell ahead, and the environment it starts with */
  private readonly init: typeof BASH_INIT;
  /** oldest first */
  private ready: Warm[] = [];

  constructor(
    /** the namespace's prefix */
    prefix: string[],
    private readonly lease: string,
    /** what the PID 1 runs as its child: the step's shell */
    private readonly command: string[],
    private readonly startScript: string,
    private readonly spares: SpareFiles,
    private readonly groups: WarmGroups,
    /** whether the step's shell starts ahead too (warm-shell.sh): not where it runs as another user */
    private readonly shellAhead: boolean,
    /** the lease's deadline as the agent has it (what its file says) */
    private readonly leaseDeadline: () => number,
  ) {
    // found by path here: the process starts with no environment (unshare finds bash in the default path)
    this.prefix = [Bun.which(prefix[0]!) ?? prefix[0]!, ...prefix.slice(1)];
    const dash = shellAhead ? Bun.which("dash") : null;
    this.init = dash ? { shell: [dash, "-c"], env: { _: Bun.which("bash", { PATH: BASH_DEFAULT_PATH }) ?? "bash" } } : BASH_INIT;
  }

  /**
   * Tops up the waiting processes to READY. Two, not one: in a chain of short steps the next comes 3-8 ms after
   * the last started, about what unshare and two bash processes take to start on a loaded machine (measured: a
   * process taken 7 ms after its spawn at the median), so each gets a step's time more to be ready.
   */
  prepare(): void {
    for (const warm of this.ready.filter((w) => !waiting(w))) this.drop(warm);
    this.ready = this.ready.filter(waiting);
    while (this.ready.length < READY) this.ready.push(this.spawn());
  }

  private spawn(): Warm {
    const groups = this.groups.make();
    const items = groups.procsFiles.map((file) => `cg=${file}`);
    const shell = this.shellAhead ? pipe() : null;
    const args = ["drover-step", ...(shell ? [STEP_LANG] : []), this.lease, ...items, "--", ...this.command];
    // the shell's start functions go as the here-document that warm-shell.sh's last line opens
    const script = shell ? `${warmShellScript}${SHELL_FUNCTIONS}\n_drover_functions\nexit\n` : `${warmStartScript}\n${this.startScript}`;
    const init = shell ? this.init : BASH_INIT;
    const proc = Bun.spawn([...this.prefix, ...init.shell, script, ...args], {
      cwd: "/",
      env: init.env,
      stdio: [shell ? shell[0] : "pipe", "ignore", "ignore"],
      detached: true,
    }) as WarmProcess;
    if (shell) closeSync(shell[0]);
    return { proc, groups, shell: shell?.[1] ?? null };
  }

  /** The waiting process, taken for a step that can go this way (`start` then hands it the step), or null. */
  take(env: Record<string, string>): Warm | null {
    const warm = this.ready.find(waiting);
    if (!warm) return null;
    if (!startsAhead(env, warm.shell !== null)) return null;
    this.ready = this.ready.filter((w) => w !== warm);
    return warm;
  }

  /** Hands `step` to a process taken for it. */
  start({ proc, shell }: Warm, step: WarmStep): void {
    const [script, start] = warmFiles(step.outputPath);
    this.spares.take(script);
    const fd = openSync(script, "r+");
    try {
      writeSync(fd, step.script);
      // bash opens /dev/fd/3 anew, which checks the file's owner: a step run as another user must own it
      if (step.owner) fchownSync(fd, step.owner.uid, step.owner.gid);
    } finally {
      closeSync(fd);
    }
    const env = Object.entries(step.env).map(([k, v]) => `${k}=${v}`);
    if (shell === null) {
      this.spares.take(start);
      writeFileSync(start, [step.dir, step.outputPath, script, ...step.items, "", ...env].join("\0"));
      proc.stdin?.write(`${start}\n`);
      proc.stdin?.flush();
      proc.stdin?.end();
      return;
    }
    // the deadline as the agent has it now: the shell need not read the lease's file (a later renewal only moves it on)
    const words = [step.dir, step.outputPath, script, String(this.leaseDeadline()), ...step.items, "", ...env];
    const call = startCall(words, (text) => {
      this.spares.take(start);
      writeFileSync(start, text);
      return start;
    });
    wake(shell, call);
  }

  /** Ends the waiting processes and removes their groups (the agent stops); resolves once they have exited. */
  stop(): Promise<void> {
    const exits = this.ready.map((warm) => {
      endWaiting(warm.proc);
      this.drop(warm);
      return warm.proc.exited;
    });
    this.ready = [];
    return Promise.all(exits).then(() => {});
  }

  private drop(warm: Warm): void {
    if (warm.shell !== null) closeSync(warm.shell);
    this.groups.remove(warm.groups);
  }
}

/** Writes the step's start (`startCall`) to the pipe a shell started ahead waits on (warm-shell-start.sh), and closes it. */
export function wake(shell: number, call: string): void {
  try {
    writeSync(shell, call);
  } catch {
    // the shell is gone: its exit is the step's
    return;
  } finally {
    // closed before the shell runs: it reads its start and the EOF that ends it in one go, not waking twice
    closeSync(shell);
  }
  // The shell wakes on this CPU and would wait there until the agent's thread blocks, past the rest of the step's
  // start and the turn of its loop (1.3-4 ms measured under load): the agent steps aside once, having nothing urgent.
  libc()?.sched_yield();
}

/** Whether a process started ahead still waits for its step (it has not exited, nor been killed). */
export const waiting = (w: { proc: { exitCode: number | null; killed: boolean } }) => w.proc.exitCode === null && !w.proc.killed;

/** Ends a process started ahead and what it started (its process group), the agent stopping. */
export function endWaiting(proc: { pid: number }): void {
  try {
    process.kill(-proc.pid, "SIGKILL");
  } catch {
    // gone
  }
}
