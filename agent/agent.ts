import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { hostname } from "node:os";
import { join } from "node:path";
import {
  AGENT_VERSION,
  type AgentMessage,
  type Assignment,
  type CoordinatorMessage,
  PROTOCOL_VERSION,
} from "../shared/protocol/index.ts";
import type { AgentConfig } from "./config.ts";
import { Connection } from "./connection/connection.ts";
import { PendingReports } from "./connection/reports.ts";
import { KeptWorkspaces } from "./archive/kept.ts";
import { AttemptRunner } from "./runner/attempt.ts";
import { cleanUpAfter } from "./runner/cleanup.ts";
import { markTopDir } from "./runner/top-dir.ts";
import { newId } from "../shared/ids.ts";

interface Identity {
  id: string;
  credential: string;
}

const log = (msg: string) => console.error(`[agent] ${msg}`);

/** The edge agent: holds the lease, takes assignments, and keeps every report and log byte until acknowledged. */
export class Agent {
  private readonly connection: Connection;
  private readonly reports: PendingReports;
  private readonly attempts = new Map<string, AttemptRunner>();
  private identity: Identity | null;
  private heartbeat: Timer | null = null;
  private draining = false;
  private readonly identityFile: string;
  private readonly kept: KeptWorkspaces;
  private exit: (code: number) => void = () => {};
  readonly done = new Promise<number>((resolve) => {
    this.exit = resolve;
  });

  constructor(private readonly config: AgentConfig) {
    mkdirSync(join(config.workDir, "spool"), { recursive: true });
    const attempts = join(config.workDir, "attempts");
    mkdirSync(attempts, { recursive: true });
    markTopDir(attempts);
    this.kept = new KeptWorkspaces(join(config.workDir, "kept"), config.keepWorkspacesBytes);
    // per name, so agents sharing a work root stay distinct; a dynamic agent is new each time it starts
    this.identityFile = join(config.workDir, `identity-${config.name}.json`);
    this.identity = config.dynamic ? null : this.loadIdentity();
    this.connection = new Connection(config.coordinator, config.token, {
      hello: () => this.hello(),
      message: (m) => this.onMessage(m),
      closed: (code, reason) => this.onClosed(code, reason),
    });
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
    };
  }

  private onMessage(message: CoordinatorMessage): void {
    switch (message.type) {
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
      case "error":
        log(`coordinator reported: ${message.message}`);
        return;
    }
  }

  private welcome(message: Extract<CoordinatorMessage, { type: "welcome" }>): void {
    if (message.credential) {
      this.identity = { id: message.agentId, credential: message.credential };
      if (!this.config.dynamic) writeFileSync(this.identityFile, JSON.stringify(this.identity), { mode: 0o600 });
    }
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
    if (this.heartbeat) clearInterval(this.heartbeat);
    this.heartbeat = setInterval(() => this.connection.send({ type: "heartbeat" }), message.heartbeatMs);
    log(`registered as ${this.config.name} (${message.agentId})`);
  }

  private onClosed(code: number, reason: string): void {
    if (this.heartbeat) clearInterval(this.heartbeat);
    this.heartbeat = null;
    log(`connection closed (${code} ${reason}); reconnecting`);
  }

  private assign(assignment: Assignment): void {
    if (this.attempts.has(assignment.attempt)) return;
    if (this.draining) {
      void this.reports.send({ type: "reject", id: newId(), attempt: assignment.attempt, reason: "the agent is draining" });
      return;
    }
    const runner = new AttemptRunner(assignment, {
      agentName: this.config.name,
      workRoot: this.config.workDir,
      coordinator: this.config.coordinator,
      agentId: () => this.identity?.id ?? "",
      credential: () => this.identity?.credential ?? "",
      sender: this.connection,
      report: (r) => this.reports.send(r),
      cancelGraceMs: this.config.cancelGraceMs,
      kept: this.kept,
      checkout: this.config.checkout,
    });
    this.attempts.set(assignment.attempt, runner);
    runner
      .run()
      .catch((e) => log(`attempt ${assignment.attempt} crashed: ${e}`))
      .finally(() => {
        this.attempts.delete(assignment.attempt);
        if (this.config.once) this.drain();
        else if (this.draining && this.attempts.size === 0) this.stop(0);
      });
  }

  /** No new attempts; leave once the running ones are done. */
  drain(): void {
    if (!this.draining) this.connection.send({ type: "draining" });
    this.draining = true;
    if (this.attempts.size === 0) this.stop(0);
  }

  cancelAll(): void {
    for (const runner of this.attempts.values()) runner.stop("cancelled");
  }

  stop(code: number): void {
    if (this.heartbeat) clearInterval(this.heartbeat);
    this.kept.close();
    this.connection.stop();
    this.exit(code);
  }
}
