import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { removeGroup } from "./cgroups.ts";
import type { SpareFiles } from "../../shared/spare-files.ts";

import killRecordScript from "./kill-record.sh" with { type: "text" };
import leaseLapsedScript from "./lease-lapsed.sh" with { type: "text" };
import stepStartScript from "./step-start.sh" with { type: "text" };
import watchdogScript from "./watchdog.sh" with { type: "text" };

const WATCHDOG = `${killRecordScript}\n${watchdogScript}`;
export const STEP_START = `${leaseLapsedScript}\n${stepStartScript}`;
export const LEASE_LAPSED: string = leaseLapsedScript;

/** What is recorded about a running step, on disk, so it can be killed when the agent cannot do it itself. */
export interface StepRecord {
  attempt: string;
  pgid: number | null;
  cgroups: string[];
}

/** Step records and the watchdog watching them, in the agent's private dir. */
export class Watchdog {
  private readonly steps: string;
  private readonly pidFile: string;
  private proc: ReturnType<typeof Bun.spawn> | null = null;

  /** steps recorded and not yet forgotten: a step's first record takes a spare file, its second rewrites it */
  private readonly recorded = new Set<string>();

  constructor(
    private readonly dir: string,
    readonly leaseFile: string,
    private readonly spares: SpareFiles,
  ) {
    this.steps = join(dir, "steps");
    this.pidFile = join(dir, "watchdog.pid");
    mkdirSync(this.steps, { recursive: true, mode: 0o700 });
  }

  /** Ends what a previous run of this agent left: its watchdog and every step it recorded. Returns how many steps. */
  killLeftovers(): number {
    try {
      const pid = Number(readFileSync(this.pidFile, "utf8"));
      if (readFileSync(`/proc/${pid}/cmdline`, "latin1").includes("drover-watchdog")) process.kill(pid, "SIGKILL");
    } catch {
      // none, or gone
    }
    const names = readdirSync(this.steps);
    for (const name of names) this.kill(name);
    return names.length;
  }

  start(): void {
    this.proc = Bun.spawn(["bash", "-c", WATCHDOG, "drover-watchdog", this.leaseFile, this.steps, String(process.pid)], {
      env: { PATH: process.env.PATH ?? "/usr/bin:/bin" },
      stdin: "ignore",
      stdout: "ignore",
      stderr: "inherit",
      detached: true,
    });
    writeFileSync(this.pidFile, String(this.proc.pid));
  }

  /** Kills the watchdog; resolves once it has exited. */
  stop(): Promise<void> {
    this.proc?.kill("SIGKILL");
    return this.proc ? this.proc.exited.then(() => {}) : Promise.resolve();
  }

  record(name: string, step: StepRecord): void {
    // the first process's tree first: killing what carries the attempt id would end a supervisor holding orphans
    const lines = [...(step.pgid ? [`pgid ${step.pgid}`] : []), `attempt ${step.attempt}`, ...step.cgroups.map((d) => `cg ${d}`)];
    const file = join(this.steps, name);
    if (!this.recorded.has(name)) this.spares.take(file);
    this.recorded.add(name);
    writeFileSync(file, `${lines.join("\n")}\n`);
  }

  /** Kills a recorded step's processes (as the watchdog would) and forgets it. */
  kill(name: string): void {
    const file = join(this.steps, name);
    if (!existsSync(file)) return;
    Bun.spawnSync(["bash", "-c", `${killRecordScript}\nkill_record "$1"`, "drover-kill", file]);
    for (const line of readFileSync(file, "utf8").split("\n")) if (line.startsWith("cg ")) removeGroup(line.slice(3));
    rmSync(file, { force: true });
  }

  forget(name: string): void {
    this.recorded.delete(name);
    rmSync(join(this.steps, name), { force: true });
  }
}
