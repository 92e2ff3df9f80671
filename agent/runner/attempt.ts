import { newId } from "../../shared/ids.ts";
import type { Assignment } from "../../shared/protocol/index.ts";
import { stampsStream } from "../../shared/protocol/log-frame.ts";
import type { FilesClient } from "../connection/files-client.ts";
import { Redactor, secretValues } from "../logs/redactor.ts";
import type { StepLog } from "../logs/step-log.ts";
import type { TreeToKeep } from "../checkout/kept-trees.ts";
import type { HookName } from "./hooks.ts";
import { AttemptProcesses } from "./attempt-processes.ts";

type Outcome = { status: "success" | "failed" | "stopped" | "error"; exitCode: number | null; error: string | null };

/** Runs one assignment: fetches its workspace, runs its steps in order, and reports each. */
export class AttemptRunner extends AttemptProcesses {
  private filesClient: Promise<FilesClient> | null = null;
  /** the checked-out tree, kept for the repository's next checkout when the attempt ends */
  private treeToKeep: TreeToKeep | null = null;

  /** Loaded at first use, as the archive steps are: its schemas are no idle agent's to hold (see shared/protocol/idle-frames.ts). */
  private files(): Promise<FilesClient> {
    const { coordinator, agentId, credential, ca } = this.ctx;
    const options = { coordinator, ca, agentId, credential, attempt: this.assignment.attempt, signal: this.abort.signal };
    this.filesClient ??= import("../connection/files-client.ts").then(({ FilesClient }) => new FilesClient(options));
    return this.filesClient;
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
      if (a.sandbox && this.ctx.executor.kind !== "sandbox")
        throw new Error("the task asks for a sandbox, and this agent runs steps on the host");
      this.ctx.executor.newDir(this.dir);
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
    await this.keepTree();
    await this.ctx.executor.removeDir(this.dir);
  }

  /** Keeps the checked-out tree unless the attempt was given up (its processes may not all be gone yet). */
  private async keepTree(): Promise<void> {
    if (!this.treeToKeep) return;
    if (this.abandoned) return this.treeToKeep.discard();
    const why = await this.treeToKeep.keep(this.dir).catch((e: Error) => `the work tree is not kept: ${e.message}`);
    if (why) console.error(`[agent] attempt ${this.assignment.attempt}: ${why}`);
  }

  private async fetchWorkspace(): Promise<void> {
    try {
      const { extractArchive } = await import("../archive/extract.ts");
      await extractArchive(await (await this.files()).runWorkspace(), this.dir);
    } catch (e) {
      // Stopped mid-fetch: runSteps then runs no step and reports the stop (cancelled or timeout), not an error.
      if (!this.stopReason) throw e;
    }
  }

  private async runSteps(): Promise<Outcome> {
    const a = this.assignment;
    let failure: Outcome | null = null;
    // whether a step from `from` on will still run: after a failure only test_results steps run
    const more = (from: number) => a.steps.slice(from).some((s) => !failure || s.kind === "test_results");
    for (const [index, step] of a.steps.entries()) {
      // stopped before the first step, or while the previous one's log drained
      if (this.stopReason) break;
      // After a failure only test_results steps run: the failed tests' reports are what explains it.
      if (failure && step.kind !== "test_results") continue;
      void this.report({ type: "step_start", ...this.base(), step: index, at: Date.now() });
      // Hooks before the task and the checkout are the start of the first step's log (pipeline steps keep their
      // indices); a failure there fails that step.
      const preamble = index === 0 ? await this.prelude() : null;
      if (preamble?.error) {
        const log = this.newLog(index);
        log.write(preamble.output);
        const failed: Outcome = {
          status: this.stopReason === "cancelled" ? "stopped" : "failed",
          exitCode: null,
          error: preamble.error,
        };
        return this.endStep(index, log, (b) => log.write(b), failed, failed);
      }
      let exitCode: number | null = null;
      let error: string | null = null;
      let infrastructure = false;
      let log: StepLog;
      let append: (bytes: Uint8Array) => void;
      if (step.kind === "run") {
        ({ log, exitCode, error, append } = await this.runCommand(index, step.command, this.stepEnv(step.env), preamble?.output));
      } else {
        const archiveLog = this.newLog(index);
        log = archiveLog;
        append = (b) => archiveLog.write(b);
        if (preamble) log.write(preamble.output);
        const { runArchiveStep } = await import("../steps/index.ts");
        ({ exitCode, error, infrastructure } = await runArchiveStep(step, {
          assignment: a,
          index,
          dir: this.dir,
          env: this.stepEnv({}),
          log,
          files: await this.files(),
          kept: this.ctx.kept,
          signal: this.abort.signal,
        }));
      }
      let outcome: Outcome | null = null;
      if (this.stopReason === "cancelled") outcome = { status: "stopped", exitCode, error };
      else if (infrastructure) outcome = { status: "error", exitCode, error };
      else {
        if ((exitCode !== 0 || error) && !failure) failure = { status: "failed", exitCode, error };
        // the last step to run: every one succeeded, but time may have run out before the attempt was through
        const timedOut: Outcome = { status: "failed", exitCode: null, error: "timeout" };
        if (!more(index + 1))
          outcome = failure ?? (this.stopReason === "timeout" ? timedOut : { status: "success", exitCode: 0, error: null });
      }
      if (outcome) return this.endStep(index, log, append, { exitCode, error }, outcome);
      await this.endStep(index, log, append, { exitCode, error }, null);
    }
    if (this.stopReason === "cancelled") return { status: "stopped", exitCode: null, error: "cancelled" };
    return failure ?? { status: "failed", exitCode: null, error: "timeout" };
  }

  /**
   * Ends a step's log and reports its end. After the task's last step (`outcome` given) the post-task hook runs
   * first, whatever the outcome, with it in its environment; its output closes that step's log, and its failure
   * fails a task that had succeeded.
   */
  private async endStep(
    index: number,
    log: StepLog,
    append: (bytes: Uint8Array) => void,
    step: { exitCode: number | null; error: string | null },
    outcome: Outcome | null,
  ): Promise<Outcome> {
    if (outcome && !this.abandoned) {
      const post = await this.hook("post-task", {
        DROVER_TASK_RESULT: outcome.status,
        DROVER_TASK_EXIT_CODE: outcome.exitCode === null ? "" : String(outcome.exitCode),
        DROVER_TASK_ERROR: outcome.error ?? "",
      });
      if (post) append(post.output);
      if (post?.error && outcome.status === "success") outcome = { status: "failed", exitCode: null, error: post.error };
    }
    await log.end();
    const stampsSize = log.stamps?.written;
    // The end is acknowledged once the log is in the object store. Until then the log is kept and listed in the
    // hello: a node that dies before storing it is sent it again by the next. The next step need not wait.
    void this.report({
      type: "step_end",
      ...this.base(),
      step: index,
      at: Date.now(),
      ...step,
      logSize: log.written,
      stampsSize,
    }).then(() => {
      log.close();
      this.logs.delete(index);
      this.logs.delete(stampsStream(index));
    });
    return outcome ?? { status: "success", exitCode: 0, error: null };
  }

  /** Before the first step: the environment hook, then (for a repository task) pre-checkout, the checkout and post-checkout, then pre-task. */
  private async prelude(): Promise<{ output: Buffer; error: string | null } | null> {
    const parts: Buffer[] = [];
    const hook = async (name: HookName) => {
      const done = await this.hook(name);
      if (!done) return null;
      parts.push(done.output);
      Object.assign(this.hookEnv, done.exported);
      return done.error;
    };
    const checkout = this.assignment.checkout;
    let error = await hook("environment");
    if (!error && checkout) error = await hook("pre-checkout");
    if (!error && checkout) {
      const done = await this.checkout(checkout);
      parts.push(done.output);
      error = done.error ?? (await hook("post-checkout"));
    }
    if (!error) error = await hook("pre-task");
    return parts.length > 0 || error ? { output: Buffer.concat(parts), error } : null;
  }

  /** Runs a hook the agent has, in the steps' executor, its output redacted like theirs. */
  private async hook(name: HookName, extra: Record<string, string> = {}) {
    if (!this.ctx.hooks.path(name)) return null;
    const env = { ...this.stepEnv({}), ...extra };
    const done = await this.ctx.hooks.run(name, env, this.dir, this.spoolPath(`hook-${name}`, "out"), (id, command, e, out) =>
      this.start(id, command, e, out),
    );
    if (!done) return null;
    this.current = null;
    this.account(done.usage);
    const secrets = secretValues(env, this.assignment.secrets);
    if (secrets.length > 0) {
      const r = new Redactor(secrets);
      done.output = Buffer.concat([r.push(done.output), r.flush()]);
    }
    return done;
  }

  /** Checks the commit out into the work dir; its log lines (credentials redacted) and the error, if any. */
  private async checkout(spec: NonNullable<Assignment["checkout"]>): Promise<{ output: Buffer; error: string | null }> {
    const lines: string[] = [];
    let error: string | null = null;
    try {
      const { checkout } = await import("../checkout/checkout.ts");
      this.treeToKeep = await checkout(spec, this.dir, this.ctx.checkout, (line) => lines.push(line), this.abort.signal);
    } catch (e) {
      error = (e as Error).message;
    }
    // stopped while checking out: the steps do not start, and the stop is the reason
    if (this.stopReason) error = this.stopReason;
    if (error) lines.push(`error: ${error}`);
    return { output: Buffer.from(lines.map((l) => `${l}\n`).join("")), error };
  }
}
