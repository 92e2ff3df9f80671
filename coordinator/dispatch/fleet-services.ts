import type { Hello, Welcome } from "../../shared/protocol/index.ts";
import { ON_AGENT_STATES } from "../../shared/states.ts";
import type { Db } from "../db/open.ts";
import { background } from "../../shared/background.ts";
import type { DiskFullError } from "../logs/log-errors.ts";
import type { LogKey } from "../logs/live-log.ts";
import type { LiveLogs } from "../logs/live-logs.ts";
import { diskFull } from "../metrics/registry.ts";
import type { AttemptReports } from "../runs/attempt-reports.ts";
import type { Scheduler } from "../runs/scheduler.ts";
import type { Cleanups } from "../fleet/cleanups.ts";
import type { Dispatcher } from "./dispatcher.ts";
import type { AgentSocket, Fleet, OnlineAgent } from "../fleet/fleet.ts";
import { requested } from "./placement.ts";
import { lapsedAgents, register } from "../fleet/registration.ts";

/**
 * How long past an agent's last renewed lease its attempts wait before they are lost and retried: the agent
 * stops its steps when the lease it knows of ends, and its watchdog looks every 200 ms (agent/executor).
 */
export const FENCE_MARGIN_MS = 1500;

export interface FleetOptions {
  reconnectGraceMs: number;
  /** this coordinator's node id, stored with each agent it holds */
  node: string;
  /** the most one upload of a step's log may carry here (told to each agent in its welcome) */
  logUploadBytes: number;
}

/** Joins agents to the fleet, resumes their attempts, and retires them when their lease lapses. */
export class FleetServices {
  /** agents whose lease lapsed, with the time their attempts may be given to another agent */
  private readonly fencing = new Map<string, { agent: OnlineAgent; at: number }>();
  /** the lease timer's, to look again at `nextLapseIn` */
  onLeaseShortened: () => void = () => {};

  /**
   * From now until the next lease lapses or fenced agent's attempts come due; Infinity when none will. Those due
   * already are left to the `expireLeases` called with them.
   */
  nextLapseIn(now = Date.now()): number {
    let due = Infinity;
    for (const agent of this.fleet.agents.values()) {
      // a lease lapses once the time is past its expiry
      const lapse = agent.row.leaseExpiresAt + 1;
      if (lapse > now && lapse < due) due = lapse;
    }
    for (const { at } of this.fencing.values()) if (at > now && at < due) due = at;
    return due - now;
  }

  constructor(
    readonly db: Db,
    readonly fleet: Fleet,
    readonly scheduler: Scheduler,
    readonly dispatcher: Dispatcher,
    readonly reports: AttemptReports,
    readonly logs: LiveLogs,
    readonly cleanups: Cleanups,
    private readonly options: FleetOptions,
  ) {}

  async join(hello: Hello, socket: AgentSocket): Promise<{ ok: true; agent: OnlineAgent } | { ok: false; message: string }> {
    const registered = await register(this.db, hello, this.fleet.leaseTtlMs, this.options.node);
    if (!registered.ok) return registered;
    // back before its attempts were lost: they are still its own, to continue or to give up (resume)
    this.fencing.delete(registered.row.id);
    const agent = await this.scheduler.serial.run(async () => {
      const previous = this.fleet.agents.get(registered.row.id);
      if (previous?.socket && previous.socket !== socket) previous.socket.close(4001, "replaced by a newer connection");
      const agent: OnlineAgent = previous ?? { row: registered.row, socket: null, running: new Map(), draining: registered.row.paused };
      agent.socket = null;
      agent.row = registered.row;
      agent.prefetch = hello.prefetch === true;
      this.fleet.known.set(agent.row.id, agent.row);
      // it may come from another node, which moved its attempts: what this node knows of them is read again
      await this.scheduler.readRunsOf(agent.row.id, hello.running.map((r) => r.attempt));
      // Its slots are counted before it can be chosen: the socket is set, and the agent put in the fleet,
      // in the same serial section as the attempts it still runs are registered, so no dispatch pass
      // sees it connected with fewer attempts than it holds.
      const resume = await this.resume(agent, hello);
      agent.socket = socket;
      this.fleet.agents.set(agent.row.id, agent);
      const welcome: Welcome = {
        type: "welcome",
        agentId: agent.row.id,
        credential: registered.credential,
        heartbeatMs: this.fleet.heartbeatMs,
        firstHeartbeatMs: this.fleet.slots.firstHeartbeatIn(Date.now()),
        leaseTtlMs: this.fleet.leaseTtlMs,
        logUploadBytes: this.options.logUploadBytes,
        resume,
      };
      socket.send(welcome);
      // a cancel sent while the agent was away was never heard: it goes again
      for (const r of resume) {
        if (r.action === "continue" && this.scheduler.attempt(r.attempt)?.attempt.cancelRequestedAt) {
          socket.send({ type: "cancel", attempt: r.attempt, graceMs: this.scheduler.cancelGraceMs });
        }
      }
      return agent;
    });
    console.error(
      `[fleet] agent ${agent.row.name} (${agent.row.id}) joined: ${agent.row.archs.join(",")} group=${agent.row.group}`,
    );
    this.dispatcher.pump();
    await this.cleanups.dispatch();
    return { ok: true, agent };
  }

  /**
   * Attempts the agent still runs continue from the log bytes stored here; ones we
   * no longer consider its own are abandoned. Ones we thought it ran but it no
   * longer knows were lost with its previous process. Callers hold `serial`.
   */
  private async resume(agent: OnlineAgent, hello: Hello): Promise<Welcome["resume"]> {
    const listed = new Set(hello.running.map((r) => r.attempt));
    const resume: Welcome["resume"] = [];
    for (const r of hello.running) {
      const found = this.scheduler.attempt(r.attempt);
      const mine =
        found?.attempt.agentId === agent.row.id && ON_AGENT_STATES.has(found.attempt.state);
      if (!found || !mine) {
        resume.push({ attempt: r.attempt, action: "abandon", steps: [] });
        continue;
      }
      this.fleet.take(agent, r.attempt, requested(found.active.tasks.get(found.attempt.taskId)!.spec));
      const steps = r.steps.map((s) => ({
        index: s.index,
        stored: this.logs.stored({ run: found.active.run.id, attempt: r.attempt, step: s.index }),
      }));
      resume.push({ attempt: r.attempt, action: "continue", steps });
    }
    for (const found of this.attemptsOf(agent.row.id)) {
      if (!listed.has(found.id)) await this.lose(agent, found.id, "the agent restarted without it");
    }
    return resume;
  }

  private attemptsOf(agentId: string) {
    const list = [];
    for (const active of this.scheduler.active.values()) {
      for (const a of active.attempts.values()) {
        if (a.agentId === agentId && ON_AGENT_STATES.has(a.state)) list.push(a);
      }
    }
    return list;
  }

  /** Callers hold `serial`. */
  private lose(agent: OnlineAgent, attemptId: string, why: string): Promise<void> {
    return this.end(agent, attemptId, "lost", `lost: ${why}`);
  }

  /**
   * Ends an attempt the coordinator cannot go on with, and stops it on its agent: by default an
   * infrastructure error (a report that could not be applied), retried on its own budget.
   */
  failAttempt(attemptId: string, why: string, state: "error" | "failed" = "error"): Promise<void> {
    return this.scheduler.serial.run(async () => {
      const agentId = this.scheduler.attempt(attemptId)?.attempt.agentId;
      const agent = agentId ? this.fleet.agents.get(agentId) : undefined;
      if (!agent) return;
      agent.socket?.send({ type: "cancel", attempt: attemptId, graceMs: 0 });
      await this.end(agent, attemptId, state, why);
    });
  }

  /**
   * A step's log could not be written for want of disk: the log is given up (its file removed, which
   * gives the space back) and the attempt fails, not retried, since a retry would meet the same disk.
   */
  diskFull(key: LogKey, error: DiskFullError): void {
    const first = !this.logs.discarded(key);
    this.logs.discard(key, error);
    if (!first) return;
    diskFull.inc({ what: "log" });
    console.error(`[logs] ${error.message}: step ${key.step} of attempt ${key.attempt} fails, its log given up`);
    background("disk full", this.failAttempt(key.attempt, error.message, "failed"));
  }

  /** Callers hold `serial`. */
  private async end(agent: OnlineAgent, attemptId: string, state: "lost" | "error" | "failed", error: string): Promise<void> {
    this.fleet.free(agent.row.id, attemptId);
    const endedAt = Date.now();
    const ended =
      state === "lost"
        ? await this.scheduler.transition(attemptId, "lose", { state, error, endedAt })
        : await this.scheduler.transition(attemptId, "fail", { state, error, endedAt });
    if (!ended) return;
    try {
      await this.reports.keepPartialLogs(ended);
    } finally {
      // a partial log that could not be kept must not keep the task from its retry
      await this.reports.ended(ended);
    }
  }

  /** A closed connection is not yet a lost agent: it has the reconnect grace to come back. */
  disconnected(agent: OnlineAgent, socket: AgentSocket): void {
    if (agent.socket !== socket) return;
    agent.socket = null;
    // a drained agent that left with nothing running is gone for good, not reconnecting
    const grace = agent.draining && agent.running.size === 0 ? 0 : this.options.reconnectGraceMs;
    agent.row.leaseExpiresAt = Math.min(agent.row.leaseExpiresAt, Date.now() + grace);
    this.onLeaseShortened();
  }

  /**
   * Agents of a node that died: their lease lapsed in the database and no live node holds them. The node holding
   * the `leases` duty takes them in, disconnected, so that its lease expiry below retires them and fences their
   * attempts as for its own agents.
   */
  async adoptLapsed(liveNodes: ReadonlySet<string>, now = Date.now()): Promise<void> {
    for (const row of await lapsedAgents(this.db, now)) {
      if (this.fleet.agents.has(row.id) || (row.nodeId && liveNodes.has(row.nodeId))) continue;
      console.error(`[fleet] agent ${row.name} (${row.id}) of node ${row.nodeId ?? "?"} lapsed with its node: retiring it here`);
      this.fleet.known.set(row.id, row);
      this.fleet.agents.set(row.id, { row, socket: null, running: new Map(), draining: row.paused });
    }
  }

  /**
   * An agent whose lease lapsed goes offline at once, but its attempts are lost (and retried elsewhere) only
   * once the lease it last renewed, plus a margin, is over: by then the agent, or its watchdog if the agent
   * is stopped or dead, has killed their processes (PROTOCOL.md, "Fencing").
   */
  async expireLeases(now = Date.now()): Promise<void> {
    for (const agent of this.fleet.expired(now)) {
      console.error(`[fleet] agent ${agent.row.name} (${agent.row.id}) lease lapsed`);
      agent.socket?.close(4002, "lease lapsed");
      const aborted = this.fleet.uploads.abortAll(agent.row.id, "the agent's lease lapsed");
      if (aborted) console.error(`[fleet] aborted ${aborted} unfinished upload(s) of ${agent.row.name}`);
      if (agent.row.dynamic) await this.cleanups.forget(agent);
      else await this.fleet.setState(agent, "offline");
      this.fencing.set(agent.row.id, { agent, at: agent.row.lastHeartbeatAt + this.fleet.leaseTtlMs + FENCE_MARGIN_MS });
    }
    for (const [id, { agent, at }] of this.fencing) {
      if (at > now) continue;
      this.fencing.delete(id);
      const orphaned = await this.scheduler.serial.run(async () => {
        const active = this.attemptsOf(id);
        for (const a of active) await this.lose(agent, a.id, "its agent's lease lapsed");
        return active.map((a) => a.id);
      });
      if (agent.row.dynamic) await this.cleanups.retire(agent, orphaned);
    }
  }
}
