import type { BatchItem } from "drizzle-orm/batch";
import { eq, sql } from "drizzle-orm";
import type { CoordinatorMessage } from "../../shared/protocol/index.ts";
import { writeAll } from "../db/batch.ts";
import type { Db } from "../db/open.ts";
import { agents, attempts, ON_AGENT } from "../db/schema.ts";
import { type HeartbeatSlots, heartbeatSlots } from "./heartbeat-slots.ts";
import { Prefetches } from "./prefetches.ts";
import { Uploads } from "./uploads.ts";

export type AgentRow = typeof agents.$inferSelect;
export interface Resources {
  cpu: number;
  memoryBytes: number;
}

export interface AgentSocket {
  send(message: CoordinatorMessage): void;
  close(code: number, reason: string): void;
}

export interface OnlineAgent {
  row: AgentRow;
  socket: AgentSocket | null;
  /** attempts assigned or running here, with the resources each asked for: the agent's used slots */
  running: Map<string, Resources>;
  draining: boolean;
  /** its hello said it keeps workspaces and takes prefetch hints (shared/protocol/prefetch.ts) */
  prefetch?: boolean;
}

/** Agents with a live lease, in memory; the db row follows every state change. */
export class Fleet {
  readonly agents = new Map<string, OnlineAgent>();
  /** every registered agent, online or not: whether a task could ever be placed */
  readonly known = new Map<string, AgentRow>();
  readonly uploads = new Uploads();
  readonly prefetches = new Prefetches();
  readonly slots: HeartbeatSlots;

  constructor(
    private readonly db: Db,
    readonly heartbeatMs: number,
    readonly leaseTtlMs: number,
  ) {
    this.slots = heartbeatSlots(heartbeatMs, leaseTtlMs);
  }

  /**
   * The fleet alone changes an agent's slots: an attempt takes one when it is assigned (or found still
   * running after a restart) and gives it back when it ends, is requeued or lost.
   */
  take(agent: OnlineAgent, attemptId: string, need: Resources): void {
    agent.running.set(attemptId, need);
  }

  free(agentId: string | null, attemptId: string): void {
    if (agentId) this.agents.get(agentId)?.running.delete(attemptId);
  }

  /** agents whose lease moved since the last flush */
  private readonly beating = new Set<OnlineAgent>();

  /** answers to heartbeats, waiting for the flush that stores them */
  private unstored: (() => void)[] = [];

  /**
   * The lease lives in memory; `flushLeases` writes it, so a thousand agents cost one transaction per heartbeat slot
   * (a second at most; see heartbeat-slots.ts). `stored` is called once it is stored: the agent is told its lease is
   * renewed only then, or a node dying between the two would leave the database with the lease before, and another
   * node would take the agent's attempts up to a heartbeat early, while the agent, counting from the renewal it was
   * told of, still ran them. Not called when the write fails.
   */
  heartbeat(agent: OnlineAgent, stored: () => void, now = Date.now()): void {
    agent.row.leaseExpiresAt = now + this.leaseTtlMs;
    agent.row.lastHeartbeatAt = now;
    this.beating.add(agent);
    this.unstored.push(stored);
  }

  /**
   * Every agent that beat, and the keepalive of the attempts running on them (never moved back: a beat that arrived
   * before an attempt's start is flushed after it), in one transaction of two
   * statements over a JSON list, however many beat: a statement per agent cost a thousand idle agents'
   * coordinator 2 ms a flush in drizzle's query building alone (0.16 ms so).
   */
  async flushLeases(): Promise<void> {
    if (this.beating.size === 0) return;
    const batch = [...this.beating];
    const waiting = this.unstored;
    this.beating.clear();
    this.unstored = [];
    const beats = (list: OnlineAgent[]) =>
      sql`(SELECT value ->> 0 AS id, value ->> 1 AS lease, value ->> 2 AS beat FROM json_each(${JSON.stringify(
        list.map((a) => [a.row.id, a.row.leaseExpiresAt, a.row.lastHeartbeatAt]),
      )}))`;
    const writes: BatchItem<"sqlite">[] = [
      this.db.run(sql`UPDATE ${agents} SET lease_expires_at = b.lease, last_heartbeat_at = b.beat FROM ${beats(batch)} AS b WHERE ${agents.id} = b.id`),
    ];
    const working = batch.filter((a) => a.running.size > 0);
    if (working.length > 0) {
      writes.push(
        this.db.run(
          sql`UPDATE ${attempts} SET keepalive_at = MAX(COALESCE(keepalive_at, 0), b.beat) FROM ${beats(working)} AS b WHERE ${attempts.agentId} = b.id AND ${ON_AGENT} AND ${attempts.state} = 'running'`,
        ),
      );
    }
    await writeAll(this.db, writes);
    for (const stored of waiting) {
      // one answer that failed (its socket, say) must not cost the others theirs
      try {
        stored();
      } catch (e) {
        console.error("[fleet] answering a heartbeat failed:", e);
      }
    }
  }

  /** Agents whose lease ran out; they are taken out of the fleet here. */
  expired(now = Date.now()): OnlineAgent[] {
    const gone = [...this.agents.values()].filter((a) => a.row.leaseExpiresAt < now);
    for (const a of gone) this.agents.delete(a.row.id);
    return gone;
  }

  /** The dispatcher gives a draining agent no new attempts; the ones it runs finish. */
  async drain(agent: OnlineAgent): Promise<void> {
    agent.draining = true;
    await this.setState(agent, "draining");
  }

  /**
   * Pausing is a drain that sticks and does not send the agent away: it stays connected, takes nothing
   * new, across reconnects and restarts of the coordinator, until resumed. Works on offline agents too.
   */
  async setPaused(id: string, paused: boolean): Promise<boolean> {
    const [row] = await this.db.update(agents).set({ paused }).where(eq(agents.id, id)).returning({ id: agents.id });
    if (!row) return false;
    const known = this.known.get(id);
    if (known) known.paused = paused;
    const online = this.agents.get(id);
    if (online) {
      online.row.paused = paused;
      // a resumed agent that is leaving (SIGTERM, drain) stays drained
      online.draining = paused || online.row.state === "draining";
    }
    return true;
  }

  async setState(agent: OnlineAgent, state: "online" | "draining" | "offline"): Promise<void> {
    agent.row.state = state;
    this.known.set(agent.row.id, agent.row);
    await this.db.update(agents).set({ state }).where(eq(agents.id, agent.row.id));
  }
}
