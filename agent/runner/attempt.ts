import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { rm } from "node:fs/promises";
import { join } from "node:path";
import { newId } from "../../shared/ids.ts";
import type { Assignment, Report } from "../../shared/protocol/index.ts";
import { extractArchive } from "../archive/extract.ts";
import { type CheckoutOptions, checkout } from "../checkout/checkout.ts";
import type { KeptWorkspaces } from "../archive/kept.ts";
import { FilesClient } from "../connection/files-client.ts";
import { Redactor, secretValues } from "../logs/redactor.ts";
import { type LogSender, StepLog } from "../logs/step-log.ts";
import { FileTail } from "../logs/tail.ts";
import { runArchiveStep } from "../steps/index.ts";
import { StepProcess } from "./process.ts";

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
  checkout: CheckoutOptions;
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

  constructor(
    readonly assignment: Assignment,
    private readonly ctx: AttemptContext,
  ) {
    this.dir = join(ctx.workRoot, "attempts", assignment.attempt);
    const { coordinator, agentId, credential } = ctx;
    this.files = new FilesClient({ coordinator, agentId, credential, attempt: assignment.attempt, signal: this.abort.signal });
  }

  private base() {
    return { id: newId(), attempt: this.assignment.attempt };
  }

  async run(): Promise<void> {
    const a = this.assignment;
    // reports stay pending until acknowledged; only the result must be acknowledged before the attempt is let go
    void this.ctx.report({ type: "accept", ...this.base() });
    const timeout = a.timeoutMs ? setTimeout(() => this.stop("timeout"), a.timeoutMs) : null;
    let outcome: Outcome;
    try {
      mkdirSync(this.dir, { recursive: true });
      if (a.workspace) await this.fetchWorkspace();
      outcome = await this.runSteps();
    } catch (e) {
      outcome = { status: "error", exitCode: null, error: (e as Error).message };
    } finally {
      if (timeout) clearTimeout(timeout);
      if (this.killTimer) clearTimeout(this.killTimer);
    }
    await this.ctx.report({
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
    let failure: Outcome | null = null;
    for (const [index, step] of a.steps.entries()) {
      // stopped before the first step, or while the previous one's log drained or its end awaited the ack
      if (this.stopReason) break;
      // After a failure only test_results steps run: the failed tests' reports are what explains it.
      if (failure && step.kind !== "test_results") continue;
      void this.ctx.report({ type: "step_start", ...this.base(), step: index, at: Date.now() });
      // The checkout is the start of the first step's log (pipeline steps keep their indices); a failed one fails that step.
      const preamble = index === 0 && a.checkout ? await this.checkout(a.checkout) : null;
      if (preamble?.error) {
        const log = this.newLog(index);
        log.write(preamble.output);
        await log.end();
        const { error } = preamble;
        await this.ctx.report({ type: "step_end", ...this.base(), step: index, at: Date.now(), exitCode: null, error, logSize: log.written });
        return { status: this.stopReason === "cancelled" ? "stopped" : "failed", exitCode: null, error };
      }
      let exitCode: number | null = null;
      let error: string | null = null;
      let infrastructure = false;
      let log: StepLog;
      if (step.kind === "run") {
        ({ log, exitCode, error } = await this.runCommand(index, step.command, this.stepEnv(step.env), preamble?.output));
      } else {
        log = this.newLog(index);
        if (preamble) log.write(preamble.output);
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
      await this.ctx.report({ type: "step_end", ...this.base(), step: index, at: Date.now(), exitCode, error, logSize: log.written });
      if (this.stopReason === "cancelled") return { status: "stopped", exitCode, error };
      if (infrastructure) return { status: "error", exitCode, error };
      if ((exitCode !== 0 || error) && !failure) failure = { status: "failed", exitCode, error };
    }
    if (this.stopReason === "cancelled") return { status: "stopped", exitCode: null, error: "cancelled" };
    if (failure) return failure;
    // every step that ran succeeded, but time ran out before the attempt was through
    if (this.stopReason === "timeout") return { status: "failed", exitCode: null, error: "timeout" };
    return { status: "success", exitCode: 0, error: null };
  }

  /** Checks the commit out into the work dir; its log lines (credentials redacted) and the error, if any. */
  private async checkout(spec: NonNullable<Assignment["checkout"]>): Promise<{ output: Buffer; error: string | null }> {
    const lines: string[] = [];
    let error: string | null = null;
    try {
      await checkout(spec, this.dir, this.ctx.checkout, (line) => lines.push(line), this.abort.signal);
    } catch (e) {
      error = (e as Error).message;
    }
    // stopped while checking out: the steps do not start, and the stop is the reason
    if (this.stopReason) error = this.stopReason;
    if (error) lines.push(`error: ${error}`);
    return { output: Buffer.from(lines.map((l) => `${l}\n`).join("")), error };
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
  private async runCommand(index: number, command: string, env: Record<string, string>, preamble?: Uint8Array) {
    const secrets = secretValues(env, this.assignment.secrets);
    const outPath = this.spoolPath(index, "out");
    // the step's process appends to what the checkout wrote
    writeFileSync(outPath, preamble ?? "");
    const proc = new StepProcess(command, this.dir, env, outPath);
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
    const result = await proc.wait();
    // Whatever the step left running in its group would outlive the attempt.
    proc.signal("SIGKILL");
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
    else if (result.signal) error = `killed by ${result.signal}`;
    return { log, exitCode: result.exitCode, error };
  }

  private stepEnv(stepEnv: Record<string, string>): Record<string, string> {
    return {
      PATH: process.env.PATH ?? "/usr/local/bin:/usr/bin:/bin",
      HOME: process.env.HOME ?? this.dir,
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
    this.stopReason = "cancelled";
    this.abort.abort(new Error("cancelled"));
    this.current?.signal("SIGKILL");
    for (const log of this.logs.values()) log.close();
  }
}
