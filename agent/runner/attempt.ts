import { mkdirSync, rmSync } from "node:fs";
import { rm } from "node:fs/promises";
import { join } from "node:path";
import { newId } from "../../shared/ids.ts";
import type { Assignment, Report } from "../../shared/protocol/index.ts";
import { extractArchive } from "../archive/extract.ts";
import type { KeptWorkspaces } from "../archive/kept.ts";
import { FilesClient } from "../connection/files-client.ts";
import { Redactor, secretValues } from "../logs/redactor.ts";
import { type LogSender, StepLog } from "../logs/step-log.ts";
import { FileTail } from "../logs/tail.ts";
import { runArchiveStep } from "../steps/index.ts";
import type { Executor } from "../executor/executor.ts";
import type { StepProcess } from "../executor/step-process.ts";

export interface AttemptContext {
  agentName: string;
  workRoot: string;
  coordinator: string;
  agentId: () => string;
  credential: () => string;
  sender: LogSender;
  report(report: Report): Promise<void>;
  cancelGraceMs: number;
  kept: KeptWorkspaces;
  executor: Executor;
}

type Outcome = { status: "success" | "failed" | "stopped" | "error"; exitCode: number | null; error: string | null };

/** Runs one assignment: fetches its workspace, runs its steps in order, and reports each. */
export class AttemptRunner {
  readonly dir: string;
  readonly logs = new Map<number, StepLog>();
  private current: StepProcess | null = null;
  private stopReason: "cancelled" | "timeout" | null = null;
  /** stopping aborts the attempt's uploads and downloads, which have no process to signal */
  private readonly abort = new AbortController();
  private readonly files: FilesClient;
  private killTimer: Timer | null = null;
  private cpuSeconds = 0;
  private peakRssBytes = 0;
  /** given up (the coordinator said so, or the lease lapsed): nothing more is reported */
  private abandoned = false;

  constructor(
    readonly assignment: Assignment,
    private readonly ctx: AttemptContext,
  ) {
    this.dir = join(ctx.workRoot, "attempts", assignment.attempt);
    const { coordinator, agentId, credential } = ctx;
    this.files = new FilesClient({ coordinator, agentId, credential, attempt: assignment.attempt, signal: this.abort.signal });
  }

  private report(report: Report): Promise<void> {
    return this.abandoned ? Promise.resolve() : this.ctx.report(report);
  }

  private base() {
    return { id: newId(), attempt: this.assignment.attempt };
  }

  async run(): Promise<void> {
    const a = this.assignment;
    // reports stay pending until acknowledged; only the result must be acknowledged before the attempt is let go
    void this.report({ type: "accept", ...this.base() });
    const timeout = a.timeoutMs ? setTimeout(() => this.stop("timeout"), a.timeoutMs) : null;
    let outcome: Outcome;
    try {
      if (a.sandbox && this.ctx.executor.kind !== "sandbox") throw new Error("the task asks for a sandbox, and this agent runs steps on the host");
      mkdirSync(this.dir, { recursive: true, mode: 0o700 });
      this.ctx.executor.own(this.dir);
      if (a.workspace) await this.fetchWorkspace();
      outcome = await this.runSteps();
    } catch (e) {
      outcome = { status: "error", exitCode: null, error: (e as Error).message };
    } finally {
      if (timeout) clearTimeout(timeout);
      if (this.killTimer) clearTimeout(this.killTimer);
    }
    await this.report({
      type: "result",
      ...this.base(),
      at: Date.now(),
      ...outcome,
      cpuSeconds: this.cpuSeconds,
      peakRssBytes: this.peakRssBytes,
    });
    await rm(this.dir, { recursive: true, force: true });
  }

  private async fetchWorkspace(): Promise<void> {
    try {
      await extractArchive(await this.files.runWorkspace(), this.dir);
    } catch (e) {
      // Stopped mid-fetch: runSteps then runs no step and reports the stop (cancelled or timeout), not an error.
      if (!this.stopReason) throw e;
    }
  }

  private async runSteps(): Promise<Outcome> {
    const a = this.assignment;
    for (const [index, step] of a.steps.entries()) {
      // stopped before the first step, or while the previous one's log drained or its end awaited the ack
      if (this.stopReason) break;
      void this.report({ type: "step_start", ...this.base(), step: index, at: Date.now() });
      let exitCode: number | null = null;
      let error: string | null = null;
      let infrastructure = false;
      let log: StepLog;
      if (step.kind === "run") {
        ({ log, exitCode, error } = await this.runCommand(index, step.command, this.stepEnv(step.env)));
      } else {
        log = this.newLog(index);
        ({ exitCode, error, infrastructure } = await runArchiveStep(step, {
          assignment: a,
          index,
          dir: this.dir,
          env: this.stepEnv({}),
          log,
          files: this.files,
          kept: this.ctx.kept,
          signal: this.abort.signal,
        }));
      }
      await log.end();
      await this.report({ type: "step_end", ...this.base(), step: index, at: Date.now(), exitCode, error, logSize: log.written });
      if (this.stopReason === "cancelled") return { status: "stopped", exitCode, error };
      if (infrastructure) return { status: "error", exitCode, error };
      if (exitCode !== 0 || error) return { status: "failed", exitCode, error };
    }
    if (this.stopReason === "cancelled") return { status: "stopped", exitCode: null, error: "cancelled" };
    // every step that ran succeeded, but time ran out before the attempt was through
    if (this.stopReason === "timeout") return { status: "failed", exitCode: null, error: "timeout" };
    return { status: "success", exitCode: 0, error: null };
  }

  /** With `outputPath` the step's own output file is the log's spool; without, the log writes a spool file of its own. */
  private newLog(index: number, outputPath?: string): StepLog {
    const path = outputPath ?? this.spoolPath(index, "log");
    const log = new StepLog(this.assignment.attempt, index, path, this.ctx.sender, outputPath !== undefined);
    this.logs.set(index, log);
    return log;
  }

  private spoolPath(index: number, kind: "out" | "log"): string {
    return join(this.ctx.workRoot, "spool", `${this.assignment.attempt}-${index}.${kind}`);
  }

  /**
   * Runs a command with its output going straight to a spool file. With no
   * secrets to redact that file is the log itself; otherwise it is read back
   * through the redactor into the log.
   */
  private async runCommand(index: number, command: string, env: Record<string, string>) {
    const secrets = secretValues(env, this.assignment.secrets);
    const outPath = this.spoolPath(index, "out");
    // what an archive step or the workspace fetch just wrote is the step user's too
    if (index > 0 || this.assignment.workspace) this.ctx.executor.own(this.dir);
    const a = this.assignment;
    const proc = this.ctx.executor.start({
      attempt: a.attempt,
      index,
      command,
      dir: this.dir,
      env,
      outputPath: outPath,
      memoryBytes: a.memoryBytes,
      network: a.network,
    });
    this.current = proc;
    let log: StepLog;
    let tail: FileTail;
    let redactor: Redactor | null = null;
    if (secrets.length === 0) {
      log = this.newLog(index, outPath);
      tail = new FileTail(outPath, { onSize: (size) => log.grew(size) });
    } else {
      log = this.newLog(index);
      const r = new Redactor(secrets);
      redactor = r;
      tail = new FileTail(outPath, { onBytes: (bytes) => log.write(r.push(bytes)) });
    }
    tail.start();
    // whatever the step left running anywhere is killed before this returns
    const result = await proc.wait();
    tail.finish();
    if (redactor) {
      log.write(redactor.flush());
      rmSync(outPath, { force: true });
    }
    this.current = null;
    this.cpuSeconds += result.cpuSeconds;
    this.peakRssBytes = Math.max(this.peakRssBytes, result.peakRssBytes);
    let error: string | null = null;
    if (this.stopReason) error = this.stopReason === "timeout" ? "timeout" : "cancelled";
    else if (result.error) error = result.error;
    else if (result.signal) error = `killed by ${result.signal}`;
    return { log, exitCode: result.exitCode, error };
  }

  private stepEnv(stepEnv: Record<string, string>): Record<string, string> {
    return {
      PATH: process.env.PATH ?? "/usr/local/bin:/usr/bin:/bin",
      HOME: this.ctx.executor.home(this.dir),
      LANG: process.env.LANG ?? "C.UTF-8",
      ...this.assignment.env,
      ...stepEnv,
      DROVER_AGENT: this.ctx.agentName,
      DROVER_ARCH: this.assignment.arch,
      DROVER_WORKSPACE: this.dir,
      // lets a sibling find this attempt's processes should this agent die
      DROVER_ATTEMPT_ID: this.assignment.attempt,
    };
  }

  /** SIGTERM to the step's process group, SIGKILL once the grace runs out. */
  stop(reason: "cancelled" | "timeout", graceMs = this.ctx.cancelGraceMs): void {
    if (this.stopReason) return;
    this.stopReason = reason;
    this.abort.abort(new Error(reason));
    const proc = this.current;
    if (!proc) return;
    proc.signal("SIGTERM");
    this.killTimer = setTimeout(() => proc.signal("SIGKILL"), graceMs);
  }

  /** Ends the attempt's processes at once and drops its spooled output (the coordinator gave it up). */
  abandon(): void {
    this.abandoned = true;
    this.stopReason = "cancelled";
    this.abort.abort(new Error("cancelled"));
    this.current?.signal("SIGKILL");
    for (const log of this.logs.values()) log.close();
  }
}
