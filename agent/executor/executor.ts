import { existsSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import type { Executor as ExecutorKind, Limits } from "../../shared/protocol/index.ts";
import { formatBytes } from "../../shared/format.ts";
import { Cgroups, killGroup, removeGroup, signalMembers, type StepGroups } from "./cgroups.ts";
import { type RunAs, runAsArgs } from "./run-as.ts";
import { sandboxArgs } from "./sandbox.ts";
import { StepProcess, type StepTree } from "./step-process.ts";
import { STEP_START, type Watchdog } from "./watchdog.ts";
import type { SpareFiles } from "../../shared/spare-files.ts";
import { type Warm, type WarmGroups, WarmStarts, warmFiles } from "./warm-start.ts";
import { type WarmSandbox, WarmSandboxes } from "./warm-sandbox.ts";
import { signalDescendants } from "./process-tree.ts";
import { LateRemovals } from "./late-removals.ts";
import type { PidNamespace } from "./pid-namespace.ts";

// @ts-expect-error: a text import of a TS file is typed as the module; at run time it is the file's text
import reaperSource from "./reaper.ts" with { type: "text" };

const REAPER: string = reaperSource;

/**
 * How long after a step's start the processes started ahead are topped up at the latest (a step silent for long),
 * where its output or its end does not do it first (`prepareAhead`). Not at its start: the spawn holds the agent's
 * thread, and so the read of the step's first output (7 ms at the median at load 20, where that first output comes
 * 6-9 ms after the start: a 2 ms timer held back most of them).
 */
const PREPARE_AT_LATEST_MS = 20;

export interface ExecutorOptions {
  kind: ExecutorKind;
  runAs: RunAs | null;
  workRoot: string;
  /** paths a sandboxed step must not see besides the work root (the token file, --sandbox-hide) */
  hide: string[];
  /** host dirs a sandboxed step sees read-only even under a hidden or private one (the hooks dir) */
  readOnly: string[];
  maxProcesses: number;
  cgroups: Cgroups;
  /** a PID namespace for each host step, or why there is none (the sandbox has its own) */
  pidNamespace: PidNamespace | { unavailable: string };
  watchdog: Watchdog;
  /** the lease's deadline as the agent has it (what the watchdog's lease file says): what a step started ahead checks */
  leaseDeadline: () => number;
  /** the files a step starts with, made ahead */
  spares: SpareFiles;
  /** attempts' work dirs, made ahead */
  spareDirs: SpareFiles;
  /** where a root sandbox agent keeps the slots of its sandboxes started ahead (warm-sandbox.ts): its own */
  sandboxSlots: string;
}

export interface StepStart {
  attempt: string;
  /** unique within the attempt: the step's index, or the hook's name */
  name: string;
  command: string;
  dir: string;
  env: Record<string, string>;
  outputPath: string;
  memoryBytes: number | null;
  network: boolean;
}

/** Processes carrying an attempt's id in their environment: the tree where no cgroup holds it. */
function attemptProcesses(attempt: string): number[] {
  const found: number[] = [];
  const marker = `\0DROVER_ATTEMPT_ID=${attempt}\0`;
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    try {
      if (`\0${readFileSync(`/proc/${entry}/environ`, "latin1")}`.includes(marker)) found.push(Number(entry));
    } catch {
      // gone, or not ours to read
    }
  }
  return found;
}

/**
 * Starts every step of this agent: in the host's view or in a bubblewrap sandbox, as the agent's user or the
 * `--run-as` one, in a cgroup per step where the agent can make one, in a PID namespace of its own where it can
 * make one (pid-namespace.ts), and with neither under a supervisor that every orphan of the step is handed to
 * (reaper.ts); each step is recorded for the watchdog that kills it if the lease lapses while the agent cannot.
 */
export class Executor {
  readonly limits: Limits;
  private readonly warm: WarmStarts | null = null;
  private readonly warmSandboxes: WarmSandboxes | null = null;
  private readonly removals = new LateRemovals();
  /** the agent is leaving: nothing more is started ahead */
  private closed = false;

  constructor(private readonly opts: ExecutorOptions) {
    let caps = { memory: null as StepGroups["memory"], pids: null as StepGroups["pids"] };
    if (opts.cgroups.available) {
      const probe = opts.cgroups.create(`probe-${process.pid}`, { memoryBytes: 1 << 30, pids: 64 });
      caps = { memory: probe.memory, pids: probe.pids };
      for (const dir of probe.dirs) removeGroup(dir);
    }
    const host = opts.kind === "host" ? opts.pidNamespace : null;
    const ns = this.pidNamespace;
    // with a PID namespace on the host (the sandbox makes its own), or in a sandbox, a step's first processes start ahead
    // where a cgroup holds the sandbox (each of its processes is gone before its slot takes the next step's dir)
    const sandboxAhead = opts.kind === "sandbox" && opts.cgroups.available && WarmSandboxes.possible(opts.runAs);
    if (ns || sandboxAhead) {
      // a previous run's waiting processes' groups (they ended with it: EOF on their stdin); not a live agent's: two
      // agents of one name share the subtree (on a shared machine, two benchmarks' agents named "bench")
      for (const base of opts.cgroups.bases) {
        for (const entry of readdirSync(base)) {
          const owner = entry.match(/^warm-(\d+)-\d+$/)?.[1];
          if (owner && !existsSync(`/proc/${owner}`)) removeGroup(join(base, entry));
        }
      }
    }
    let made = 0;
    const groups: WarmGroups = {
      make: () => opts.cgroups.create(`warm-${process.pid}-${made++}`, { memoryBytes: null, pids: opts.maxProcesses }),
      remove: (g: StepGroups) => {
        for (const dir of g.dirs) removeGroup(dir);
      },
    };
    if (ns) {
      const command = [...(opts.runAs ? runAsArgs(opts.runAs) : []), "bash", "-e", "/dev/fd/3"];
      this.warm = new WarmStarts(ns.args, opts.watchdog.leaseFile, command, STEP_START, opts.spares, groups, !opts.runAs, opts.leaseDeadline);
      this.warm.prepare();
    }
    if (sandboxAhead) {
      this.warmSandboxes = new WarmSandboxes({
        spec: { workRoot: opts.workRoot, hide: opts.hide, readOnly: opts.readOnly },
        slotsDir: opts.sandboxSlots,
        attemptsDir: join(opts.workRoot, "attempts"),
        leaseDeadline: opts.leaseDeadline,
        runAs: opts.runAs,
        spares: opts.spares,
        groups,
      });
      this.warmSandboxes.prepare();
    }
    this.limits = {
      memory: caps.memory ?? "rlimit",
      pids: caps.pids ?? "rlimit",
      pidNamespace: !host || "args" in host,
      pidNamespaceWhyNot: host && "unavailable" in host ? host.unavailable : null,
    };
  }

  /** The host step's PID namespace, when this agent makes them. */
  private get pidNamespace(): PidNamespace | null {
    return this.opts.kind === "host" && "args" in this.opts.pidNamespace ? this.opts.pidNamespace : null;
  }

  get kind(): ExecutorKind {
    return this.opts.kind;
  }

  /**
   * At the agent's exit: ends the processes started ahead (none start after this) and releases what the agent made
   * for its steps (its cgroup subtree); resolves once those processes have exited.
   */
  close(): Promise<void> {
    this.closed = true;
    this.removals.flush();
    const exited = Promise.all([this.warm?.stop(), this.warmSandboxes?.stop()]);
    this.opts.cgroups.release();
    return exited.then(() => {});
  }

  /** Gives the attempt's dir (and what steps made in it) to the user steps run as. */
  own(dir: string): void {
    const user = this.opts.runAs;
    if (!user) return;
    Bun.spawnSync(["chown", "-R", `${user.uid}:${user.gid}`, dir]);
  }

  /** Makes `path` a new empty file for a step (its output), from the spares made ahead. */
  newFile(path: string): void {
    this.opts.spares.take(path);
  }

  /** Makes `path` an attempt's work dir, the agent's alone (`own` gives it to the steps' user), from the spares made ahead. */
  newDir(path: string): void {
    this.opts.spareDirs.take(path);
  }

  /** Removes an ended attempt's work dir, out of the way of the next step's start (late-removals.ts). */
  removeDir(path: string): Promise<void> {
    return this.removals.remove(path);
  }

  /** The HOME a step gets: the run-as user's, a private one in the sandbox, or the agent's. */
  home(dir: string): string {
    if (this.opts.kind === "sandbox") return "/tmp";
    return this.opts.runAs?.home ?? process.env.HOME ?? dir;
  }

  /**
   * Tops up the processes started ahead, for the steps that come next, and removes the work dirs of attempts ended
   * before: called as a step's output begins, or as it ends (whichever comes first), so that this runs as it runs, out
   * of the way of its start.
   */
  prepareAhead(): void {
    if (this.closed) return;
    this.removals.flush();
    this.warm?.prepare();
    this.warmSandboxes?.prepare();
  }

  start(step: StepStart): StepProcess {
    const name = `${step.attempt}-${step.name}`;
    // a process started ahead for the step is in groups made ahead (pids capped): only its memory cap is set now
    const boxed: WarmSandbox | null = this.warmSandboxes?.take(step) ?? null;
    const warm: Warm | null = this.warm?.take(step.env) ?? null;
    const ahead = boxed ?? warm;
    const groups = ahead?.groups ?? this.opts.cgroups.create(name, { memoryBytes: step.memoryBytes, pids: this.opts.maxProcesses });
    if (ahead && step.memoryBytes) this.opts.cgroups.limitMemory(groups, step.memoryBytes);
    // ulimit items where no cgroup caps; a cold start's first process joins its cgroups as it starts
    const items = ahead ? [] : groups.procsFiles.map((file) => `cg=${file}`);
    if (step.memoryBytes && !groups.memory) items.push(`ulimit=-v ${Math.ceil(step.memoryBytes / 1024)}`);
    // RLIMIT_NPROC counts every process of the step's user, the agent's own included when it is the same user
    if (!groups.pids) items.push(`ulimit=-u ${this.opts.maxProcesses}`);
    const prefix = [STEP_START, "drover-step", this.opts.watchdog.leaseFile, ...items];
    const ns = this.pidNamespace;
    const sandbox = this.opts.kind === "sandbox";
    // neither a cgroup nor a PID namespace (the host's, or the sandbox's): the agent's own binary, acting as bun,
    // supervises the step as its subreaper (from "/", so that no bunfig.toml or .env of the step's dir reaches it)
    const reaped = groups.dirs.length === 0 && !ns && !sandbox;
    const argv = reaped ? [process.execPath, "-e", REAPER, step.dir] : [];
    // in a PID namespace the start script is its PID 1, which runs the step as its child
    if (ns) argv.push(...ns.args);
    argv.push("bash", "-c", ...prefix, ...(ns ? ["init"] : []), "--");
    if (this.opts.runAs) argv.push(...runAsArgs(this.opts.runAs));
    if (this.opts.kind === "sandbox") {
      argv.push(
        ...sandboxArgs({
          workRoot: this.opts.workRoot,
          work: { dir: step.dir },
          hide: this.opts.hide,
          readOnly: this.opts.readOnly,
          network: step.network,
          env: step.env,
        }),
      );
    }
    // -e without pipefail, as GitHub Actions and Buildkite run a command by default: a pipeline is as good as its last command
    argv.push("bash", "-e", "/dev/fd/3");
    const memoryBytes = step.memoryBytes;
    const tree: StepTree = {
      signal: (sig, first) => {
        // The first process too: a kill that comes as the step starts may find its processes not yet in their
        // cgroup, or its shell not yet spawned in its namespace; the first process's death ends its namespace.
        // Where it is the step's subreaper it is stopped instead, and killed last: dead, it would hand the step's
        // orphans to init before the walk below could find them under it.
        if (sig === "SIGKILL") tryKill(first, reaped ? "SIGSTOP" : sig);
        if (sig !== "SIGKILL" && (ns || sandbox)) {
          // every process of the step is in its namespace, under its PID 1 (the first process's child), which takes
          // no part: each process gets the signal once, from here. Not the first process either: bwrap dies of a
          // SIGTERM and takes its sandbox with it at once (--die-with-parent), leaving the step no grace
          signalDescendants(first, sig, 2);
          return;
        }
        if (sig === "SIGKILL") for (const dir of groups.dirs) killGroup(dir);
        else signalMembers(groups.dirs, sig);
        if (groups.dirs.length > 0) return;
        // the supervisor's tree first, while it lives to be handed every orphan; then what carries the attempt's id,
        // then the first process's group (its death would hand the tree's orphans to init where it is their
        // subreaper). In a PID namespace every orphan stays under its PID 1, a descendant of the first process.
        signalDescendants(first, sig);
        if (reaped) for (const pid of attemptProcesses(step.attempt)) tryKill(pid, sig);
        if (sig === "SIGKILL") tryKill(first, sig);
        tryKill(-first, sig);
      },
      end: () => {
        if (warm) for (const file of warmFiles(step.outputPath)) rmSync(file, { force: true });
        if (boxed) this.warmSandboxes?.end(boxed, step.dir);
        const oom = memoryBytes !== null && Cgroups.oomKilled(groups);
        for (const dir of groups.dirs) removeGroup(dir);
        this.opts.watchdog.forget(name);
        return oom ? `killed: memory limit ${formatBytes(memoryBytes).replace(".0 ", " ")}` : null;
      },
    };
    // recorded before it starts, so that no moment exists where it runs and nothing on disk says so
    this.opts.watchdog.record(name, { attempt: step.attempt, pgid: null, cgroups: groups.dirs });
    const handed = { dir: step.dir, outputPath: step.outputPath, script: step.command, items, env: step.env, owner: this.opts.runAs };
    if (boxed) {
      try {
        this.warmSandboxes?.start(boxed, handed);
      } catch (e) {
        // its sandbox ended: what was made for the step goes
        tree.end();
        throw e;
      }
    }
    if (warm) this.warm?.start(warm, handed);
    if (this.warm || this.warmSandboxes) setTimeout(() => this.prepareAhead(), PREPARE_AT_LATEST_MS);
    const proc = ahead
      ? new StepProcess(ahead.proc, tree)
      : StepProcess.spawn(
          argv,
          {
            cwd: reaped ? "/" : step.dir,
            env: reaped ? { ...step.env, BUN_BE_BUN: "1" } : step.env,
            outputPath: step.outputPath,
            script: step.command,
            owner: this.opts.runAs,
            spares: this.opts.spares,
          },
          tree,
        );
    this.opts.watchdog.record(name, { attempt: step.attempt, pgid: proc.pid, cgroups: groups.dirs });
    return proc;
  }
}

function tryKill(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {
    // gone
  }
}
