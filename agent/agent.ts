import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { hostname } from "node:os";
import { join } from "node:path";
import type { AgentMessage, Assignment, CoordinatorMessage, Welcome } from "../shared/protocol/index.ts";
import { scheduleHeartbeats } from "../shared/protocol/heartbeat-schedule.ts";
import { AGENT_VERSION, PROTOCOL_VERSION } from "../shared/protocol/version.ts";
import type { AgentConfig } from "./config.ts";
import { Connection } from "./connection/connection.ts";
import { PendingReports } from "./connection/reports.ts";
import { KeptWorkspaces } from "./archive/kept.ts";
import type { Prefetcher } from "./archive/prefetch.ts";
import { Cgroups } from "./executor/cgroups.ts";
import { Executor } from "./executor/executor.ts";
import { LeaseClock } from "./executor/lease.ts";
import { resolveRunAs } from "./executor/run-as.ts";
import { sandboxUnavailable } from "./executor/sandbox.ts";
import { SLOTS_PREFIX } from "./executor/warm-sandbox.ts";
import { hostPidNamespace } from "./executor/pid-namespace.ts";
import { Watchdog } from "./executor/watchdog.ts";
import { SpareFiles } from "../shared/spare-files.ts";
import { AttemptRunner } from "./runner/attempt.ts";
import type { LogSender } from "./logs/step-log.ts";
import { Hooks } from "./runner/hooks.ts";
import { cleanUpAfter } from "./runner/cleanup.ts";
import { markTopDir } from "./runner/top-dir.ts";
import { newId } from "../shared/ids.ts";
import { ownDir } from "./own-dir.ts";

interface Identity {
  id: string;
  credential: string;
}

const log = (msg: string) => console.error(`[agent] ${msg}`);
/** How long the agent waits for the helper processes it killed to exit before it exits itself. */
const HELPERS_EXIT_MS = 2_000;

/** The edge agent: holds the lease, takes assignments, and keeps every report and log byte until acknowledged. */
export class Agent {
  private readonly connection: Connection;
  /** A step's log goes in frames over the WebSocket, or (a large one) uploaded to the node the WebSocket is on. */
  private readonly logSender: LogSender = {
    sendBinary: (frame) => this.connection.sendBinary(frame),
    whenWritable: (fn) => this.connection.whenWritable(fn),
    uploadTarget: () => {
      const connection = this.connection.connected;
      if (!connection || !this.identity) return null;
      const { id: agentId, credential } = this.identity;
      return { url: this.connection.url, agentId, credential, ca: this.config.ca, connection, maxBytes: this.logUploadBytes };
    },
  };
  private readonly reports: PendingReports;
  private readonly attempts = new Map<string, AttemptRunner>();
  private identity: Identity | null;
  /** what the node now connected takes in one log upload (its welcome says) */
  private logUploadBytes: number | undefined;
  private stopHeartbeats: (() => void) | null = null;
  private draining = false;
  private readonly identityFile: string;
  private readonly kept: KeptWorkspaces;
  /** loaded at the first prefetch hint: it brings the extractor and zod, which an idle agent does not load */
  private prefetcher: Promise<Prefetcher> | null = null;
  private readonly lease: LeaseClock;
  private readonly watchdog: Watchdog;
  private readonly executor: Executor;
  private readonly hooks: Hooks;
  private exit: (code: number) => void = () => {};
  readonly done = new Promise<number>((resolve) => {
    this.exit = resolve;
  });

  /** Refuses to start (throws, saying why) when the executor asked for cannot be made here. */
  constructor(private readonly config: AgentConfig) {
    if (config.executor === "sandbox") {
      const why = sandboxUnavailable();
      if (why) throw new Error(`--executor sandbox: ${why}`);
    }
    const runAs = config.runAs ? resolveRunAs(config.runAs) : null;
    // Steps may pass through the attempts dir to their own, and see nothing else the agent keeps.
    mkdirSync(config.workDir, { recursive: true });
    for (const [sub, mode] of [["spool", 0o700], ["kept", 0o700], ["attempts", 0o711]] as const) {
      mkdirSync(join(config.workDir, sub), { recursive: true });
      chmodSync(join(config.workDir, sub), mode);
    }
    markTopDir(join(config.workDir, "attempts"));
    this.kept = new KeptWorkspaces(join(config.workDir, "kept"), config.keepWorkspacesBytes);
    // per name, so agents sharing a work root stay distinct: identity, lease and step records, for the agent only
    const own = ownDir(config.workDir, config.name);
    mkdirSync(own, { recursive: true, mode: 0o700 });
    chmodSync(own, 0o700);
    this.identityFile = join(own, "identity.json");
    const older = join(config.workDir, `identity-${config.name}.json`);
    if (existsSync(older) && !existsSync(this.identityFile)) renameSync(older, this.identityFile);
    // a dynamic agent is new each time it starts
    this.identity = config.dynamic ? null : this.loadIdentity();
    this.lease = new LeaseClock(join(own, "lease"), () => this.fence());
    const spares = new SpareFiles(join(own, "spare"));
    this.watchdog = new Watchdog(own, join(own, "lease"), spares);
    const left = this.watchdog.killLeftovers();
    if (left > 0) log(`killed what ${left} step(s) of this agent's previous run left`);
    this.watchdog.start();
    this.hooks = new Hooks(config.hooksDir);
    this.executor = new Executor({
      kind: config.executor,
      runAs,
      workRoot: config.workDir,
      // git mirrors hold every repository this agent checked out, for any project: not a step's to read
      hide: [...(config.tokenFile ? [config.tokenFile] : []), config.checkout.mirrorsDir, ...config.sandboxHide],
      // hooks run in the sandbox too, and may live under /tmp, which it replaces
      readOnly: config.hooksDir ? [config.hooksDir] : [],
      maxProcesses: config.maxProcesses,
      cgroups: Cgroups.detect(`drover-${config.name.replace(/[^A-Za-z0-9_.-]/g, "_")}`),
      pidNamespace: hostPidNamespace(config),
      watchdog: this.watchdog,
      leaseDeadline: () => this.lease.expiresAt,
      spares,
      spareDirs: new SpareFiles(join(own, "spare-dirs"), 4, "dir"),
      // beside the attempts' dirs (which move into them), and like theirs traversable by a step's user
      sandboxSlots: join(config.workDir, `${SLOTS_PREFIX}${config.name}`),
    });
    this.connection = new Connection(config.coordinators, config.token, {
      hello: () => this.hello(),
      message: (m) => this.onMessage(m),
      closed: (code, reason) => this.onClosed(code, reason),
    }, config.ca);
    this.reports = new PendingReports(this.connection);
  }

  start(): void {
    this.connection.connect();
  }

  private loadIdentity(): Identity | null {
    try {
      return JSON.parse(readFileSync(this.identityFile, "utf8")) as Identity;
    } catch {
      return null;
    }
  }

  private hello(): AgentMessage {
    // a lease that lapsed while the agent could not notice (stopped, say) ends its attempts before it says what runs
    this.lease.check();
    this.lease.helloSent();
    return {
      type: "hello",
      protocol: PROTOCOL_VERSION,
      version: AGENT_VERSION,
      id: this.identity?.id,
      credential: this.identity?.credential,
      name: this.config.name,
      archs: this.config.archs,
      group: this.config.group,
      labels: this.config.labels,
      capacity: this.config.capacity,
      resources: this.config.resources,
      dynamic: this.config.dynamic,
      executor: this.config.executor,
      limits: this.executor.limits,
      host: hostname(),
      workDir: this.config.workDir,
      // An attempt that ended but whose result is not acknowledged is still listed: the coordinator keeps
      // its slot taken until the resent result is applied, so it never gives this agent more than its capacity.
      running: [
        ...[...this.attempts.values()].map((r) => ({
          attempt: r.assignment.attempt,
          steps: [...r.logs.values()].map((l) => ({ index: l.step, stored: l.acked })),
        })),
        ...[...this.reports.attempts()].filter((id) => !this.attempts.has(id)).map((attempt) => ({ attempt, steps: [] })),
      ],
      prefetch: this.config.keepWorkspacesBytes > 0,
    };
  }

  private onMessage(message: CoordinatorMessage): void {
    // timers may fire late after the agent was stopped: whatever arrives first learns that the lease lapsed
    this.lease.check();
    switch (message.type) {
      case "lease":
        this.lease.renewed(message.seq);
        return;
      case "welcome":
        this.welcome(message);
        return;
      case "refuse":
        log(`refused by the coordinator: ${message.message}`);
        this.connection.stop();
        this.exit(1);
        return;
      case "assign":
        this.assign(message.assignment);
        return;
      case "cancel":
        this.attempts.get(message.attempt)?.stop("cancelled", message.graceMs);
        return;
      case "ack":
        for (const id of message.ids) this.reports.ack(id);
        return;
      case "log_ack":
        this.attempts.get(message.attempt)?.logs.get(message.step)?.ack(message.stored);
        return;
      case "drain":
        this.drain();
        return;
      case "cleanup": {
        const result = cleanUpAfter(message, this.config.workDir);
        log(`cleaned up after agent ${message.agent}: ${result.killedProcesses} process(es), ${result.removedPaths.length} path(s)`);
        void this.reports.send({ type: "cleanup_done", id: newId(), cleanup: message.cleanup, ...result });
        return;
      }
      case "prefetch":
        void this.prefetches().then((prefetcher) => prefetcher.start(message));
        return;
      case "error":
        log(`coordinator reported: ${message.message}`);
        return;
    }
  }

  private prefetches(): Promise<Prefetcher> {
    this.prefetcher ??= Promise.all([import("./archive/prefetch.ts"), import("./connection/prefetch-client.ts")]).then(
      ([{ Prefetcher }, { followPrefetch }]) => {
        const endpoint = {
          coordinator: () => this.connection.url,
          ca: this.config.ca,
          agentId: () => this.identity?.id ?? "",
          credential: () => this.identity?.credential ?? "",
        };
        return new Prefetcher(this.kept, (grant, signal) => followPrefetch(endpoint, grant, signal), log);
      },
    );
    return this.prefetcher;
  }

  private welcome(message: Welcome): void {
    if (message.credential) {
      this.identity = { id: message.agentId, credential: message.credential };
      if (!this.config.dynamic) writeFileSync(this.identityFile, JSON.stringify(this.identity), { mode: 0o600 });
    }
    this.lease.welcomed(message.leaseTtlMs);
    this.logUploadBytes = message.logUploadBytes;
    this.kept.open(message.agentId);
    for (const r of message.resume) {
      const runner = this.attempts.get(r.attempt);
      if (r.action === "abandon") {
        log(`abandoning attempt ${r.attempt}`);
        runner?.abandon();
        this.reports.dropAttempt(r.attempt);
        this.attempts.delete(r.attempt);
        continue;
      }
      for (const s of r.steps) runner?.logs.get(s.index)?.resume(s.stored);
    }
    this.reports.resendAll();
    this.stopHeartbeats?.();
    this.stopHeartbeats = scheduleHeartbeats(message, () => this.connection.send({ type: "heartbeat", seq: this.lease.heartbeatSent() }));
    log(`registered as ${this.config.name} (${message.agentId}) with ${this.connection.url}`);
  }

  private onClosed(code: number, reason: string): void {
    this.stopHeartbeats?.();
    this.stopHeartbeats = null;
    log(`connection closed (${code} ${reason}); reconnecting`);
  }

  private assign(assignment: Assignment): void {
    if (this.attempts.has(assignment.attempt)) return;
    // sent before the lease lapsed: the coordinator re-queues it, as it does any assignment not accepted
    if (this.lease.lapsed()) return;
    if (this.draining) {
      void this.reports.send({ type: "reject", id: newId(), attempt: assignment.attempt, reason: "the agent is draining" });
      return;
    }
    const runner = new AttemptRunner(assignment, {
      agentName: this.config.name,
      workRoot: this.config.workDir,
      coordinator: () => this.connection.url,
      ca: this.config.ca,
      agentId: () => this.identity?.id ?? "",
      credential: () => this.identity?.credential ?? "",
      sender: this.logSender,
      report: (r) => this.reports.send(r),
      cancelGraceMs: this.config.cancelGraceMs,
      kept: this.kept,
      executor: this.executor,
      hooks: this.hooks,
      checkout: this.config.checkout,
    });
    this.attempts.set(assignment.attempt, runner);
    // --once says so as it takes its attempt: the slot this attempt's result frees must not get another one,
    // which would reach an agent already gone and wait out its lease
    if (this.config.once) this.drain();
    runner
      .run()
      .catch((e) => log(`attempt ${assignment.attempt} crashed: ${e}`))
      .finally(() => {
        this.attempts.delete(assignment.attempt);
        if (this.draining && this.attempts.size === 0) this.stop(0);
      });
  }

  /**
   * No new attempts; leave once the running ones are done. An assignment received before is the agent's to run
   * (the coordinator sent it before it heard of the drain), even if it still waits for the schemas to load.
   */
  drain(): void {
    this.connection.afterReceived(() => {
      if (!this.draining) this.connection.send({ type: "draining" });
      this.draining = true;
      if (this.attempts.size === 0) this.stop(0);
    });
  }

  /**
   * The lease ran out without a renewal: the coordinator may give these attempts to another agent from now on
   * (plus a margin), so they end here at once, and their reports and spooled output go.
   */
  private fence(): void {
    for (const [id, runner] of this.attempts) {
      log(`attempt ${id}: the lease lapsed; ending it`);
      runner.abandon();
      this.reports.dropAttempt(id);
      this.attempts.delete(id);
    }
  }

  cancelAll(): void {
    this.connection.afterReceived(() => {
      for (const runner of this.attempts.values()) runner.stop("cancelled");
    });
  }

  stop(code: number): void {
    this.stopHeartbeats?.();
    this.lease.stop();
    const helpers = Promise.all([this.watchdog.stop(), this.executor.close()]);
    void this.prefetcher?.then((prefetcher) => prefetcher.stop());
    this.kept.close();
    this.connection.stop();
    // its watchdog and the processes started ahead go first, so that whoever waits for the agent finds nothing of it left
    void Promise.race([helpers, Bun.sleep(HELPERS_EXIT_MS)]).then(() => this.exit(code));
  }
}
