import { closeSync, fchownSync, openSync, writeFileSync, writeSync } from "node:fs";
import type { Subprocess } from "bun";
import type { SpareFiles } from "../../shared/spare-files.ts";
import type { StepGroups } from "./cgroups.ts";

import warmStartScript from "./warm-start.sh" with { type: "text" };

/**
 * The script and start files of a step started warm, next to its output in the agent's spool (its attempt's, for
 * the cleanup after a lost agent). They are removed as the step ends: the waiting process runs no `rm`.
 */
export function warmFiles(outputPath: string): [script: string, start: string] {
  return [`${outputPath}.sh`, `${outputPath}.start`];
}

/** What the step's environment may hold to be handed over as `export NAME=value`: a name bash takes. */
const NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

export type WarmProcess = Subprocess<"pipe", "ignore", "ignore">;

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
}

/** Where the groups of the warm processes come from, and go. */
export interface WarmGroups {
  make(): StepGroups;
  remove(groups: StepGroups): void;
}

/**
 * One host step's first processes started ahead, while the agent waits: its PID namespace (unshare) and the PID 1
 * that starts the step (warm-start.sh, then step-start.sh), waiting on its stdin. A step started cold pays for
 * both as it starts (2-3 ms of its dispatch, the larger part of the agent's); a warm one costs a small file and a
 * line on a pipe. The PID 1 joins the step's cgroups ahead too (made ahead, with their process cap; the memory cap
 * is set as the step starts): a first move into a group can wait out an RCU grace period, up to 15-30 ms measured
 * on this machine under load. The rest of the step's start checks (its limits, the agent's lease) is still done as
 * it starts, by the waiting process, and a warm process the agent never uses ends with the agent (EOF on its stdin).
 * The step's start file (its environment) and script stay in the agent's spool (the agent's alone) until the step
 * ends, where a cold start unlinks its script before the step's shell starts: a step of the agent's own user can
 * read another's environment in /proc anyway, and a step run as another user cannot enter the spool.
 */
export class WarmStarts {
  private readonly prefix: string[];
  private ready: Warm | null = null;

  constructor(
    /** the namespace's prefix */
    prefix: string[],
    private readonly lease: string,
    /** what the PID 1 runs as its child: the step's shell */
    private readonly command: string[],
    private readonly startScript: string,
    private readonly spares: SpareFiles,
    private readonly groups: WarmGroups,
  ) {
    // found by path here: the process starts with no environment (unshare finds bash in the default path)
    this.prefix = [Bun.which(prefix[0]!) ?? prefix[0]!, ...prefix.slice(1)];
  }

  /** Starts the next one, unless one waits already. */
  prepare(): void {
    if (this.ready && this.ready.proc.exitCode === null && !this.ready.proc.killed) return;
    if (this.ready) this.groups.remove(this.ready.groups);
    const groups = this.groups.make();
    const items = groups.procsFiles.map((file) => `cg=${file}`);
    const args = ["drover-step", this.lease, ...items, "--", ...this.command];
    // --norc: its stdin is a socket (Bun's "pipe"), which bash takes for rshd's and then reads ~/.bashrc of the
    // agent's user, whose environment and descriptors would reach the step
    const proc = Bun.spawn([...this.prefix, "bash", "--norc", "-c", `${warmStartScript}\n${this.startScript}`, ...args], {
      cwd: "/",
      env: {},
      stdio: ["pipe", "ignore", "ignore"],
      detached: true,
    });
    this.ready = { proc, groups };
  }

  /** The waiting process, taken for a step that can go this way (`start` then hands it the step), or null. */
  take(env: Record<string, string>): Warm | null {
    const warm = this.ready;
    if (!warm || warm.proc.exitCode !== null || warm.proc.killed) return null;
    if (!Object.keys(env).every((k) => NAME.test(k))) return null;
    this.ready = null;
    return warm;
  }

  /** Hands `step` to a process taken for it. */
  start({ proc }: Warm, step: WarmStep): void {
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
    this.spares.take(start);
    writeFileSync(start, [step.dir, step.outputPath, script, ...step.items, "", ...env].join("\0"));
    proc.stdin.write(`${start}\n`);
    proc.stdin.flush();
    proc.stdin.end();
  }

  /** Ends the waiting process and removes its groups (the agent stops). */
  stop(): void {
    if (!this.ready) return;
    try {
      process.kill(-this.ready.proc.pid, "SIGKILL");
    } catch {
      // gone
    }
    this.groups.remove(this.ready.groups);
    this.ready = null;
  }
}
