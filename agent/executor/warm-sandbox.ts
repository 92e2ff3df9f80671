import {
  appendFileSync,
  chownSync,
  closeSync,
  fchownSync,
  ftruncateSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  unlinkSync,
  writeSync,
} from "node:fs";
import { basename, dirname, join } from "node:path";
import type { Subprocess } from "bun";
import type { SpareFiles } from "../../shared/spare-files.ts";
import type { StepGroups } from "./cgroups.ts";
import { type RunAs, runAsArgs } from "./run-as.ts";
import { type SandboxSpec, sandboxArgs } from "./sandbox.ts";
import { STEP_LANG } from "./step-lang.ts";
import {
  endWaiting,
  pipe,
  SHELL_FUNCTIONS,
  startCall,
  startsAhead,
  type WarmGroups,
  type WarmStep,
  waiting,
  wake,
} from "./warm-start.ts";

import warmSandboxScript from "./warm-sandbox.sh" with { type: "text" };

/** How the dirs that hold agents' slots begin, beside the attempts' dir in the work root (one per agent name). */
export const SLOTS_PREFIX = "sandboxes-";

/** sandboxes kept waiting (prepare), as for host steps (warm-start.ts) */
const READY = 2;

/**
 * Who owns the slots: a user no step runs as, which no sandbox maps, so that a step can neither write its slot nor
 * change its mode (nobody).
 */
const SLOT_OWNER = 65534;

/** A sandbox waiting for its step, in the step's groups, with its slot. */
export interface WarmSandbox {
  proc: Subprocess<number, number, number>;
  network: boolean;
  groups: StepGroups;
  /** the agent's end of the pipe the step's shell reads its start from */
  shell: number;
  /** the dir the sandbox sees as the attempts' dir: the step's attempt dir is moved into it as the step starts */
  slot: string;
  /** its output file (the step's stdout and stderr), renamed to the step's output path as it starts */
  output: string;
  /** the agent's descriptors of the step's script and start files (unlinked: the sandbox has them as fds 3 and 6) */
  script: number;
  start: number;
}

export interface WarmSandboxesOptions {
  /** what every step's sandbox hides and shows (sandbox.ts) */
  spec: Pick<SandboxSpec, "workRoot" | "hide" | "readOnly">;
  /** where the agent keeps the slots, on the attempts' disk, traversable by the steps' user */
  slotsDir: string;
  /** the dir attempts' work dirs are in: a slot is seen there */
  attemptsDir: string;
  /** the lease's deadline as the agent has it (what its file says) */
  leaseDeadline: () => number;
  runAs: RunAs | null;
  spares: SpareFiles;
  groups: WarmGroups;
}

/**
 * Sandboxed steps started ahead, while the agent waits: bubblewrap with the namespaces, mounts and limits a step
 * started cold gets (sandbox.ts), and in it the step's shell waiting for its start, as a warm host step's does
 * (warm-start.ts). A cold start pays for bubblewrap as the step starts (about 9 ms of CPU here, 15 ms of wall time).
 * What is not known ahead is the step's attempt dir, and a bind mount needs its path: the sandbox binds a slot (an
 * empty dir of the agent's) where attempts' dirs are, and as the step starts the agent moves the attempt's dir into
 * that slot; it sees its dir at its path, and beside it nothing, as in a cold one. The slot belongs to a user no step
 * runs as or maps (and its mode lets nobody write it), so a step can neither move its dir nor put anything beside it;
 * the agent moves the dir back as the step ends, once its processes are gone. The step's script, start and output are
 * files the agent opened ahead and hands over as descriptors, since its spool is not in the sandbox's view; the lease
 * deadline goes with the start. They are made with network access or without, as the last step asked for (a step
 * that asks otherwise finds none the first time), and a step whose environment a shell started ahead cannot take starts
 * cold. Only an agent running as root makes them (the slots' owner).
 */
export class WarmSandboxes {
  private ready: WarmSandbox[] = [];
  /** what the last step asked for: the next is likely to ask the same */
  private network = false;
  /** slots no sandbox has */
  private readonly free: string[] = [];
  private slots = 0;
  private readonly dash: string;

  constructor(private readonly opts: WarmSandboxesOptions) {
    // an earlier run's slots, and what its steps left in them (their attempts are over)
    rmSync(opts.slotsDir, { recursive: true, force: true });
    mkdirSync(opts.slotsDir, { recursive: true, mode: 0o711 });
    this.dash = Bun.which("dash") ?? Bun.which("bash") ?? "bash";
  }

  /** Whether this agent can make them: as root, with steps running as someone other than the slots' owner. */
  static possible(runAs: RunAs | null): boolean {
    return process.getuid?.() === 0 && runAs?.uid !== SLOT_OWNER;
  }

  /**
   * Tops up the waiting sandboxes of the kind the last step asked for to READY (those of the other kind wait for a step
   * that asks for them: steps of both kinds in turn find theirs).
   */
  prepare(): void {
    for (const warm of this.ready.filter((w) => !waiting(w))) this.drop(warm);
    this.ready = this.ready.filter(waiting);
    while (this.ready.filter((w) => w.network === this.network).length < READY) this.ready.push(this.spawn());
  }

  private spawn(): WarmSandbox {
    const slot = this.free.pop() ?? this.newSlot();
    const groups = this.opts.groups.make();
    const fds = pipe();
    if (!fds) throw new Error("pipe2 failed");
    // the shell opens it anew (/dev/fd/5), which a pipe of root's would refuse another user
    if (this.opts.runAs) fchownSync(fds[0], this.opts.runAs.uid, this.opts.runAs.gid);
    const output = `${slot}.out`;
    const [script, start, functions] = [`${slot}.sh`, `${slot}.start`, `${slot}.functions`].map((path) => this.unlinkedFile(path));
    // the shell's start (its BASH_ENV) in a file of the step's user, and not a here-document: the shell opens it anew
    writeSync(functions!, SHELL_FUNCTIONS);
    this.opts.spares.take(output);
    const out = openSync(output, "a");
    const args = sandboxArgs({
      ...this.opts.spec,
      work: { slot, at: this.opts.attemptsDir },
      network: this.network,
      // the shell's start (warm-shell-start.sh), and the LANG its step most likely has, whose locale it loads ahead
      env: { BASH_ENV: "/dev/fd/4", LANG: STEP_LANG },
    });
    const items = groups.procsFiles.map((file) => `cg=${file}`);
    const owner = this.opts.runAs ? runAsArgs(this.opts.runAs) : [];
    const command = [this.dash, "-c", warmSandboxScript, "drover-sandbox", ...items, "--", ...owner, ...args, "bash", "-e", "/dev/fd/3"];
    try {
      const stdio: [number, number, number, number, number, number] = [fds[0], out, out, script!, functions!, start!];
      const proc = Bun.spawn(command, { cwd: "/", env: {}, stdio, detached: true });
      return { proc, network: this.network, groups, shell: fds[1], slot, output, script: script!, start: start! };
    } finally {
      for (const fd of [fds[0], out, functions!]) closeSync(fd);
    }
  }

  /** A slot: an empty dir that only the agent (root) may write. */
  private newSlot(): string {
    const slot = join(this.opts.slotsDir, String(this.slots++));
    mkdirSync(slot, { mode: 0o555 });
    chownSync(slot, SLOT_OWNER, SLOT_OWNER);
    return slot;
  }

  /** A spare file opened and unlinked: no path leads to it, and the step's user may open it anew by its descriptor. */
  private unlinkedFile(path: string): number {
    this.opts.spares.take(path);
    const fd = openSync(path, "r+");
    unlinkSync(path);
    if (this.opts.runAs) fchownSync(fd, this.opts.runAs.uid, this.opts.runAs.gid);
    return fd;
  }

  /** A waiting sandbox for a step that can go this way (`start` then hands it the step), or null. */
  take(step: { dir: string; network: boolean; env: Record<string, string> }): WarmSandbox | null {
    this.network = step.network;
    if (dirname(step.dir) !== this.opts.attemptsDir || !startsAhead(step.env, true)) return null;
    const warm = this.ready.find((w) => waiting(w) && w.network === step.network);
    if (!warm) return null;
    this.ready = this.ready.filter((w) => w !== warm);
    return warm;
  }

  /** Hands `step` to a sandbox taken for it: its dir moved into the sandbox's slot, its output file in place. */
  start(warm: WarmSandbox, step: WarmStep): void {
    let call: string;
    try {
      const env = Object.entries(step.env).map(([k, v]) => `${k}=${v}`);
      // dir, output (given), script (given), the lease's deadline, items, an empty word, the environment
      const words = [step.dir, "", "/dev/fd/3", String(this.opts.leaseDeadline()), ...step.items, "", ...env];
      call = startCall(words, (text) => {
        writeSync(warm.start, text);
        return "/dev/fd/6";
      });
      writeSync(warm.script, step.script);
      // what the checkout or the hooks wrote before the step comes first, as it does in a cold step's file
      if (statSync(step.outputPath).size > 0) appendFileSync(warm.output, readFileSync(step.outputPath));
      renameSync(warm.output, step.outputPath);
      renameSync(step.dir, join(warm.slot, basename(step.dir)));
    } catch (e) {
      // Ended before it reads anything. Its shell, left without a start, runs its script where it is: inside the
      // sandbox the kill arrives only as bubblewrap's parent death, which the pipe's end can beat, so the script it
      // would run is emptied first.
      ftruncateSync(warm.script, 0);
      endWaiting(warm.proc);
      closeSync(warm.shell);
      throw e;
    } finally {
      closeSync(warm.start);
      closeSync(warm.script);
    }
    wake(warm.shell, call);
  }

  /** After the step's processes are gone: its dir back where it was, its slot free for the next sandbox. */
  end(warm: WarmSandbox, dir: string): void {
    try {
      renameSync(join(warm.slot, basename(dir)), dir);
    } catch (e) {
      // it did not get there (the start failed)
      if ((e as NodeJS.ErrnoException).code !== "ENOENT") throw e;
    }
    if (readdirSync(warm.slot).length === 0) this.free.push(warm.slot);
  }

  /** Ends the waiting sandboxes and removes what they had (the agent stops); resolves once they have exited. */
  stop(): Promise<void> {
    const exits = this.ready.map((warm) => {
      endWaiting(warm.proc);
      this.drop(warm);
      return warm.proc.exited;
    });
    this.ready = [];
    return Promise.all(exits).then(() => {});
  }

  private drop(warm: WarmSandbox): void {
    for (const fd of [warm.shell, warm.script, warm.start]) closeSync(fd);
    rmSync(warm.output, { force: true });
    this.opts.groups.remove(warm.groups);
    this.free.push(warm.slot);
  }
}
