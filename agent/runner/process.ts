import { closeSync, openSync } from "node:fs";
import type { Subprocess } from "bun";

export interface StepProcessResult {
  exitCode: number | null;
  signal: string | null;
  cpuSeconds: number;
  peakRssBytes: number;
}

/** One `run` step: `bash -eo pipefail -c` in its own session, so its process group can be signalled as a whole. */
export class StepProcess {
  private readonly proc: Subprocess<"ignore", number, number>;

  /**
   * stdout and stderr both go straight to `outputPath` through one shared file
   * description, so their interleaving is kept and no pipe sits between the step
   * and its log. It appends: the file may start with the checkout's output.
   */
  constructor(command: string, cwd: string, env: Record<string, string>, outputPath: string) {
    const out = openSync(outputPath, "a");
    try {
      this.proc = Bun.spawn(["bash", "-eo", "pipefail", "-c", command], {
        cwd,
        env,
        stdin: "ignore",
        stdout: out,
        stderr: out,
        detached: true,
      });
    } finally {
      closeSync(out);
    }
  }

  /** Signals the step's whole process group; ESRCH means it is already gone. */
  signal(sig: NodeJS.Signals): void {
    try {
      process.kill(-this.proc.pid, sig);
    } catch {
      // the group has exited
    }
  }

  async wait(): Promise<StepProcessResult> {
    const exitCode = await this.proc.exited;
    const usage = this.proc.resourceUsage();
    return {
      exitCode: this.proc.signalCode ? null : exitCode,
      signal: this.proc.signalCode ? String(this.proc.signalCode) : null,
      cpuSeconds: usage ? Number(usage.cpuTime.total) / 1e6 : 0,
      peakRssBytes: usage?.maxRSS ?? 0,
    };
  }
}
