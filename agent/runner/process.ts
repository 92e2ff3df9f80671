import { closeSync, openSync, unlinkSync, writeSync } from "node:fs";
import type { Subprocess } from "bun";

export interface StepProcessResult {
  exitCode: number | null;
  signal: string | null;
  cpuSeconds: number;
  peakRssBytes: number;
}

/**
 * One `run` step: bash in its own session, so its process group can be signalled as a whole. The command
 * reaches bash as a script on file descriptor 3, not as an argument: a command of any size fits (no E2BIG),
 * and the script's file is unlinked before bash starts, so no later step of any attempt can read it.
 */
export class StepProcess {
  private readonly proc: Subprocess<"ignore", number, number>;

  /**
   * stdout and stderr both go straight to `outputPath` through one shared file
   * description, so their interleaving is kept and no pipe sits between the step
   * and its log. It appends: the file may start with the checkout's output.
   */
  constructor(command: string, cwd: string, env: Record<string, string>, outputPath: string) {
    const out = openSync(outputPath, "a");
    const scriptPath = `${outputPath}.sh`;
    const script = openSync(scriptPath, "w+", 0o600);
    try {
      unlinkSync(scriptPath);
      writeSync(script, command);
      this.proc = Bun.spawn(["bash", "-eo", "pipefail", "/dev/fd/3"], {
        cwd,
        env,
        stdio: ["ignore", out, out, script],
        detached: true,
      }) as Subprocess<"ignore", number, number>;
    } finally {
      closeSync(out);
      closeSync(script);
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
