import { eq } from "drizzle-orm";
import type { CoordinatorMessage } from "../../shared/protocol/index.ts";
import type { Db } from "../db/open.ts";
import { agents } from "../db/schema.ts";

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
}

/** Agents with a live lease, in memory; the db row follows every state change. */
export class Fleet {
  readonly agents = new Map<string, OnlineAgent>();
  /** every registered agent, online or not: whether a task could ever be placed */
  readonly known = new Map<string, AgentRow>();

  constructor(
    private readonly db: Db,
    readonly heartbeatMs: number,
    readonly leaseTtlMs: number,
  ) {}

  async heartbeat(agent: OnlineAgent, now = Date.now()): Promise<void> {
    agent.row.leaseExpiresAt = now + this.leaseTtlMs;
    agent.row.lastHeartbeatAt = now;
    await this.db
      .update(agents)
      .set({ leaseExpiresAt: agent.row.leaseExpiresAt, lastHeartbeatAt: now })
      .where(eq(agents.id, agent.row.id));
  }

  /** Agents whose lease ran out; they are taken out of the fleet here. */
  expired(now = Date.now()): OnlineAgent[] {
    const gone = [...this.agents.values()].filter((a) => a.row.leaseExpiresAt < now);
    for (const a of gone) this.agents.delete(a.row.id);
    return gone;
  }

  async setState(agent: OnlineAgent, state: "online" | "draining" | "offline"): Promise<void> {
    agent.row.state = state;
    this.known.set(agent.row.id, agent.row);
    await this.db.update(agents).set({ state }).where(eq(agents.id, agent.row.id));
  }
}
