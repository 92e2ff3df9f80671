import type { Hello, Welcome } from "../../shared/protocol/index.ts";
import type { Db } from "../db/open.ts";
import type { LiveLogs } from "../logs/live-logs.ts";
import type { AttemptReports } from "../runs/attempt-reports.ts";
import type { Scheduler } from "../runs/scheduler.ts";
import type { Cleanups } from "./cleanups.ts";
import type { Dispatcher } from "./dispatcher.ts";
import type { AgentSocket, Fleet, OnlineAgent } from "./fleet.ts";
import { requested } from "./placement.ts";
import { register } from "./registration.ts";

/**
 * How long past an agent's last renewed lease its attempts wait before they are lost and retried: the agent
 * stops its steps when the lease it knows of ends, and its watchdog looks every 200 ms (agent/executor).
 */
export const FENCE_MARGIN_MS = 1500;

export interface FleetOptions {
  reconnectGraceMs: number;
}

/** Joins agents to the fleet, resumes their attempts, and retires them when their lease lapses. */
export class FleetServices {
  /** agents whose lease lapsed, with the time their attempts may be given to another agent */
  private readonly fencing = new Map<string, { agent: OnlineAgent; at: number }>();

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
    const registered = await register(this.db, hello, this.fleet.leaseTtlMs);
    if (!registered.ok) return registered;
    // back before its attempts were lost: they are still its own, to continue or to give up (resume)
    this.fencing.delete(registered.row.id);
    const previous = this.fleet.agents.get(registered.row.id);
    if (previous?.socket && previous.socket !== socket) previous.socket.close(4001, "replaced by a newer connection");
    const agent: OnlineAgent = previous ?? { row: registered.row, socket, running: new Map(), draining: false };
    agent.row = registered.row;
    agent.socket = socket;
    this.fleet.agents.set(agent.row.id, agent);
    this.fleet.known.set(agent.row.id, agent.row);
    const resume = await this.resume(agent, hello);
    const welcome: Welcome = {
      type: "welcome",
      agentId: agent.row.id,
      credential: registered.credential,
      heartbeatMs: this.fleet.heartbeatMs,
      leaseTtlMs: this.fleet.leaseTtlMs,
      resume,
    };
    socket.send(welcome);
    console.error(`[fleet] agent ${agent.row.name} (${agent.row.id}) joined: ${agent.row.archs.join(",")} group=${agent.row.group}`);
    this.dispatcher.pump();
    await this.cleanups.dispatch();
    return { ok: true, agent };
  }

  /**
   * Attempts the agent still runs continue from the log bytes stored here; ones we
   * no longer consider its own are abandoned. Ones we thought it ran but it no
   * longer knows were lost with its previous process.
   */
  private resume(agent: OnlineAgent, hello: Hello): Promise<Welcome["resume"]> {
    return this.scheduler.serial.run(async () => {
      const listed = new Set(hello.running.map((r) => r.attempt));
      const resume: Welcome["resume"] = [];
      for (const r of hello.running) {
        const found = this.scheduler.attempt(r.attempt);
        const mine =
          found?.attempt.agentId === agent.row.id &&
          (found.attempt.state === "assigned" || found.attempt.state === "running");
        if (!found || !mine) {
          resume.push({ attempt: r.attempt, action: "abandon", steps: [] });
          continue;
        }
        agent.running.set(r.attempt, requested(found.active.tasks.get(found.attempt.taskId)!.spec));
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
    });
  }

  private attemptsOf(agentId: string) {
    const list = [];
    for (const active of this.scheduler.active.values()) {
      for (const a of active.attempts.values()) {
        if (a.agentId === agentId && (a.state === "assigned" || a.state === "running")) list.push(a);
      }
    }
    return list;
  }

  /** Callers hold `serial`. */
  private async lose(agent: OnlineAgent, attemptId: string, why: string): Promise<void> {
    agent.running.delete(attemptId);
    const lost = await this.scheduler.transition(attemptId, ["assigned", "running"], {
      state: "lost",
      error: `lost: ${why}`,
      endedAt: Date.now(),
    });
    if (!lost) return;
    await this.reports.keepPartialLogs(lost);
    await this.reports.ended(lost);
  }

  /** A closed connection is not yet a lost agent: it has the reconnect grace to come back. */
  disconnected(agent: OnlineAgent, socket: AgentSocket): void {
    if (agent.socket !== socket) return;
    agent.socket = null;
    // a drained agent that left with nothing running is gone for good, not reconnecting
    const grace = agent.draining && agent.running.size === 0 ? 0 : this.options.reconnectGraceMs;
    agent.row.leaseExpiresAt = Math.min(agent.row.leaseExpiresAt, Date.now() + grace);
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
      if (!agent.row.dynamic) await this.fleet.setState(agent, "offline");
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
