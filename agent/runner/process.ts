import type { Subprocess } from "bun";

export interface StepProcessResult {
  exitCode: number | null;
  signal: string | null;
  cpuSeconds: number;
  peakRssBytes: number;
}

/**
 * One `run` step: `bash -eo pipefail -c` in its own session (so its process
 * group can be signalled as a whole), stdout and stderr merged into one pipe
 * so their interleaving is kept.
 */
export class StepProcess {
  private readonly proc: Subprocess<"ignore", "pipe", "inherit">;

  constructor(command: string, cwd: string, env: Record<string, string>) {
    // stderr joins stdout on the command's own first line, so line numbers in bash's messages stay right
    this.proc = Bun.spawn(["bash", "-eo", "pipefail", "-c", `exec 2>&1; ${command}`], {
      cwd,
      env,
      stdin: "ignore",
      stdout: "pipe",
      stderr: "inherit",
      detached: true,
    });
  }

  get pid(): number {
    return this.proc.pid;
  }

  async pipeOutput(write: (chunk: Uint8Array) => void): Promise<void> {
    for await (const chunk of this.proc.stdout) write(chunk);
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
