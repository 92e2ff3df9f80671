import { appendFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Assignment, Report } from "../../shared/protocol/index.ts";
import { stampsStream } from "../../shared/protocol/log-frame.ts";
import type { KeptWorkspaces } from "../archive/kept.ts";
import type { CheckoutOptions } from "../checkout/checkout.ts";
import type { Executor } from "../executor/executor.ts";
import { STEP_LANG } from "../executor/step-lang.ts";
import type { StepProcess, StepProcessResult } from "../executor/step-process.ts";
import { Redactor, secretValues } from "../logs/redactor.ts";
import { type LogSender, StepLog } from "../logs/step-log.ts";
import { FileTail } from "../logs/tail.ts";
import type { Hooks } from "./hooks.ts";

/** How long after the attempt's first process started its held reports wait at most for its output or its end. */
const HELD_AT_MOST_MS = 5;

export interface AttemptContext {
  agentName: string;
  workRoot: string;
  /** the coordinator node connected to now */
  coordinator: () => string;
  ca: string | null;
  agentId: () => string;
  credential: () => string;
  sender: LogSender;
  report(report: Report): Promise<void>;
  cancelGraceMs: number;
  kept: KeptWorkspaces;
  executor: Executor;
  checkout: CheckoutOptions;
  hooks: Hooks;
}

/**
 * An attempt's processes and their logs: a step's or hook's command started in the agent's executor with its output
 * spooled and tailed into its log, its usage counted, and a stop or abandon reaching whichever process is current.
 */
export abstract class AttemptProcesses {
  readonly dir: string;
  readonly logs = new Map<number, StepLog>();
  protected current: StepProcess | null = null;
  protected stopReason: "cancelled" | "timeout" | null = null;
  /** stopping aborts the attempt's uploads and downloads, which have no process to signal */
  protected readonly abort = new AbortController();
  protected killTimer: Timer | null = null;
  protected cpuSeconds = 0;
  protected peakRssBytes = 0;
  /** given up (the coordinator said so, or the lease lapsed): nothing more is reported */
  protected abandoned = false;
  /** what the `environment` hook exported */
  protected readonly hookEnv: Record<string, string> = {};

  private stopGraceMs = 0;
  /**
   * Reports made before the attempt's first process started (its accept, its first step's start), sent in order once
   * that process's output began, it ended, or HELD_AT_MOST_MS after its start; an attempt that starts no process sends
   * them at the end of the turn that made them. Sent at once, each woke the coordinator, which then took the agent's
   * CPU from the step's hand-off about a time in four, or the shell's from its start.
   */
  private held: { report: Report; sent: PromiseWithResolvers<void> }[] | null = [];
  private processStarted = false;

  constructor(
    readonly assignment: Assignment,
    protected readonly ctx: AttemptContext,
  ) {
    this.dir = join(ctx.workRoot, "attempts", assignment.attempt);
  }

  /** Sends a report, after those held (`held`); resolves once the coordinator acknowledged it. */
  protected report(report: Report): Promise<void> {
    if (this.abandoned) return Promise.resolve();
    if (!this.held) return this.ctx.report(report);
    if (this.held.length === 0) setImmediate(() => this.processStarted || this.sendHeld());
    const sent = Promise.withResolvers<void>();
    this.held.push({ report, sent });
    return sent.promise;
  }

  private sendHeld(): void {
    const held = this.held;
    this.held = null;
    for (const { report, sent } of held ?? []) {
      if (this.abandoned) sent.resolve();
      else this.ctx.report(report).then(sent.resolve, sent.reject);
    }
  }

  /** With `outputPath` the step's own output file is the log's spool; without, the log writes a spool file of its own. */
  protected newLog(index: number, outputPath?: string): StepLog {
    const path = outputPath ?? this.spoolPath(index, "log");
    const stampsPath = this.spoolPath(index, "stamps");
    // of the files made ahead: making one as the step starts held the agent's thread up to a millisecond
    if (!outputPath) this.ctx.executor.newFile(path);
    this.ctx.executor.newFile(stampsPath);
    const stamps = new StepLog(this.assignment.attempt, stampsStream(index), stampsPath, this.ctx.sender);
    const log = new StepLog(this.assignment.attempt, index, path, this.ctx.sender, outputPath !== undefined, stamps);
    // acks and resumes find either stream by its number
    this.logs.set(index, log);
    this.logs.set(stamps.step, stamps);
    return log;
  }

  protected spoolPath(index: number | string, kind: "out" | "log" | "stamps"): string {
    return join(this.ctx.workRoot, "spool", `${this.assignment.attempt}-${index}.${kind}`);
  }

  /**
   * Runs a command with its output going straight to a spool file. With no
   * secrets to redact that file is the log itself; otherwise it is read back
   * through the redactor into the log.
   */
  protected async runCommand(index: number, command: string, env: Record<string, string>, preamble?: Uint8Array) {
    const secrets = secretValues(env, this.assignment.secrets);
    const outPath = this.spoolPath(index, "out");
    // the step's process appends to what the checkout wrote
    this.ctx.executor.newFile(outPath);
    if (preamble?.length) writeFileSync(outPath, preamble);
    const proc = this.start(String(index), command, env, outPath);
    // The processes for the steps that come next start once this one's output began (its first bytes sent) or it
    // ended: their spawn holds the agent's thread, which would hold that output back.
    const preambleSize = preamble?.length ?? 0;
    let read = 0;
    const noteOutput = (size: number) => {
      if (read <= preambleSize && size > preambleSize) this.ctx.executor.prepareAhead();
      read = size;
    };
    let log: StepLog;
    let tail: FileTail;
    let redactor: Redactor | null = null;
    if (secrets.length === 0) {
      log = this.newLog(index, outPath);
      tail = new FileTail(outPath, {
        onSize: (size) => {
          this.sendHeld();
          log.grew(size);
          noteOutput(size);
        },
      });
    } else {
      log = this.newLog(index);
      const r = new Redactor(secrets);
      redactor = r;
      tail = new FileTail(outPath, {
        onBytes: (bytes) => {
          this.sendHeld();
          log.write(r.push(bytes));
          noteOutput(read + bytes.length);
        },
      });
    }
    tail.start();
    // whatever the step left running anywhere is killed before this returns
    const result = await proc.wait();
    this.sendHeld();
    tail.finish();
    if (read <= preambleSize) this.ctx.executor.prepareAhead();
    if (redactor) {
      log.write(redactor.flush());
      rmSync(outPath, { force: true });
    }
    this.current = null;
    this.account(result);
    let error: string | null = null;
    if (this.stopReason) error = this.stopReason === "timeout" ? "timeout" : "cancelled";
    else if (result.error) error = result.error;
    else if (result.signal) error = `killed by ${result.signal}`;
    // the post-task hook's output goes where the step's did
    const append = redactor
      ? (bytes: Uint8Array) => log.write(bytes)
      : (bytes: Uint8Array) => {
          appendFileSync(outPath, bytes);
          log.grew(statSync(outPath).size);
        };
    return { log, exitCode: result.exitCode, error, append };
  }

  /** Starts a step's or a hook's process in the agent's executor, as the attempt's current one (what a stop signals). */
  protected start(name: string, command: string, env: Record<string, string>, outputPath: string): StepProcess {
    // what the checkout, the workspace fetch or an archive step just wrote is the step user's too
    this.ctx.executor.own(this.dir);
    const a = this.assignment;
    const proc = this.ctx.executor.start({
      attempt: a.attempt,
      name,
      command,
      dir: this.dir,
      env,
      outputPath,
      memoryBytes: a.memoryBytes,
      network: a.network,
    });
    this.current = proc;
    if (this.held && !this.processStarted) {
      this.processStarted = true;
      setTimeout(() => this.sendHeld(), HELD_AT_MOST_MS);
    }
    // a stop that came while the step was being set up (a hook, the checkout, a module loading) ends it at once
    if (this.stopReason) this.terminate(proc);
    return proc;
  }

  protected account(usage: StepProcessResult): void {
    this.cpuSeconds += usage.cpuSeconds;
    this.peakRssBytes = Math.max(this.peakRssBytes, usage.peakRssBytes);
  }

  protected stepEnv(stepEnv: Record<string, string>): Record<string, string> {
    return {
      PATH: process.env.PATH ?? "/usr/local/bin:/usr/bin:/bin",
      HOME: this.ctx.executor.home(this.dir),
      LANG: STEP_LANG,
      ...this.assignment.env,
      ...this.hookEnv,
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
    this.stopGraceMs = graceMs;
    this.abort.abort(new Error(reason));
    if (this.current) this.terminate(this.current);
  }

  private terminate(proc: StepProcess): void {
    proc.signal("SIGTERM");
    this.killTimer = setTimeout(() => proc.signal("SIGKILL"), this.stopGraceMs);
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
