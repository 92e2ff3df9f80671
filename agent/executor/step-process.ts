import { closeSync, fchownSync, openSync, unlinkSync, writeSync } from "node:fs";
import type { Subprocess } from "bun";
import type { SpareFiles } from "../../shared/spare-files.ts";

export interface StepProcessResult {
  exitCode: number | null;
  signal: string | null;
  cpuSeconds: number;
  peakRssBytes: number;
  /** why the step was killed, when the agent knows better than a signal's name (a memory limit) */
  error: string | null;
}

/** What holds a step's whole tree, whatever its processes do to their session or group (executor.ts). */
export interface StepTree {
  /**
   * signals every process of the tree it can find, `pid` being the step's first process, whose process group it
   * also signals where that does not end the tree at once (SIGKILL reaches them all where a cgroup or a PID
   * namespace holds them, or where that first process is their subreaper and still alive)
   */
  signal(sig: NodeJS.Signals, pid: number): void;
  /** after the step's first process exited: kills what is left, releases the tree, and says why it was killed */
  end(): string | null;
}

/**
 * One `run` step's first process, in its own session, with its output going straight to a file. The command
 * reaches bash as a script on file descriptor 3 (the argv ends in `/dev/fd/3`), not as an argument: a command
 * of any size fits (no E2BIG), and the script's file is unlinked before bash starts, so no later step of any
 * attempt can read it. A step started warm (warm-start.ts) was spawned ahead: its script file, in the agent's private
 * spool, goes as the step ends.
 */
export class StepProcess {
  constructor(
    private readonly proc: Subprocess<"ignore" | "pipe" | number, "ignore" | number, "ignore" | number>,
    private readonly tree: StepTree,
  ) {}

  /**
   * stdout and stderr both go straight to `outputPath` through one shared file
   * description, so their interleaving is kept and no pipe sits between the step
   * and its log.
   */
  static spawn(
    argv: string[],
    opts: {
      cwd: string;
      env: Record<string, string>;
      outputPath: string;
      script: string;
      owner: { uid: number; gid: number } | null;
      spares: SpareFiles;
    },
    tree: StepTree,
  ): StepProcess {
    // it appends: the file may start with the checkout's output
    const out = openSync(opts.outputPath, "a");
    const scriptPath = `${opts.outputPath}.sh`;
    opts.spares.take(scriptPath);
    const script = openSync(scriptPath, "r+");
    try {
      unlinkSync(scriptPath);
      writeSync(script, opts.script);
      // bash opens /dev/fd/3 anew, which checks the file's owner: a step run as another user must own it
      if (opts.owner) fchownSync(script, opts.owner.uid, opts.owner.gid);
      const proc = Bun.spawn(argv, {
        cwd: opts.cwd,
        env: opts.env,
        stdio: ["ignore", out, out, script],
        detached: true,
      }) as Subprocess<"ignore", number, number>;
      return new StepProcess(proc, tree);
    } finally {
      closeSync(out);
      closeSync(script);
    }
  }

  get pid(): number {
    return this.proc.pid;
  }

  /** Signals the step's whole tree (ESRCH, for a part already gone, is no error). */
  signal(sig: NodeJS.Signals): void {
    this.tree.signal(sig, this.proc.pid);
  }

  /** Waits for the step's first process; whatever it left running anywhere is then killed. */
  async wait(): Promise<StepProcessResult> {
    const exitCode = await this.proc.exited;
    this.signal("SIGKILL");
    const error = this.tree.end();
    const usage = this.proc.resourceUsage();
    return {
      exitCode: this.proc.signalCode ? null : exitCode,
      signal: this.proc.signalCode ? String(this.proc.signalCode) : null,
      cpuSeconds: usage ? Number(usage.cpuTime.total) / 1e6 : 0,
      peakRssBytes: usage?.maxRSS ?? 0,
      error,
    };
  }
}
