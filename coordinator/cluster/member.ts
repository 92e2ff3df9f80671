import { randomBytes } from "node:crypto";
import { hostname } from "node:os";
import type { Db } from "../db/open.ts";
import { DUTIES, type Duty, ensureDuties, holdDuties, releaseDuties } from "./duties.ts";
import { beat, forgetStaleNodes, listNodes, type NodeRow, registerNode, removeNode } from "./nodes.ts";

export interface MemberOptions {
  /** where this node is reached (DROVER_NODE_URL / --advertise-url) */
  url: () => string;
  /** how many agents hold a live connection to this node now */
  agentsHeld: () => number;
  /** how often the node beats and renews its duties */
  beatMs?: number;
  /** how long a duty lease lasts without renewal: a dead holder's duties move within this plus one beat */
  dutyTtlMs?: number;
  /** work every node does at each beat, after its duties are renewed (the run leases), given the other nodes alive */
  onBeat?: (others: NodeRow[]) => Promise<void>;
}

/**
 * A holder stops acting this long before its lease expires in the database, so it has stopped before
 * another node may take the lease (clocks across nodes are assumed to agree to well within this).
 */
const SAFETY_MS = 500;

/** A node that missed this many beats is not counted alive (its duties have moved by then). */
const ALIVE_BEATS = 3;

/**
 * This coordinator as one node of a cluster sharing one database: its row in `cluster_nodes`, heartbeated,
 * and the duty leases it holds. Every node competes for every duty at each beat; one wins each.
 */
export class ClusterMember {
  readonly id = `${hostname()}-${randomBytes(4).toString("hex")}`;
  readonly beatMs: number;
  private readonly dutyTtlMs: number;
  /** each duty held, until when this node may act on it (local clock) */
  private readonly held = new Map<Duty, number>();
  private timer: ReturnType<typeof setInterval> | undefined;
  private pass: Promise<void> | undefined;
  private draining = false;
  /** how many other nodes were alive at the last beat: with any, hints this node may miss are polled for */
  peers = 0;

  constructor(
    private readonly db: Db,
    private readonly options: MemberOptions,
  ) {
    this.beatMs = options.beatMs ?? 1000;
    this.dutyTtlMs = options.dutyTtlMs ?? 3000;
  }

  get url(): string {
    return this.options.url();
  }

  /** Registers the node and takes what duties are free before the node starts serving. */
  async join(): Promise<void> {
    await ensureDuties(this.db);
    await registerNode(this.db, { id: this.id, url: this.url }, Date.now());
    await this.beatOnce();
    this.timer = setInterval(() => {
      if (this.pass) return;
      this.pass = this.beatOnce()
        .catch((e) => console.error("[cluster] heartbeat failed:", e))
        .finally(() => {
          this.pass = undefined;
        });
    }, this.beatMs);
  }

  /** Whether this node may act on `duty` now: it holds the lease, with a margin before it runs out. */
  holds(duty: Duty): boolean {
    return (this.held.get(duty) ?? 0) > Date.now();
  }

  /** Says at once that this node is stopping, for whoever lists the cluster while its agents move away. */
  async drain(): Promise<void> {
    this.draining = true;
    await beat(this.db, this.id, Date.now(), this.options.agentsHeld(), true);
  }

  /** Leaves the cluster: gives up its duties at once (others take them at their next beat) and its row. */
  async leave(): Promise<void> {
    clearInterval(this.timer);
    await this.pass;
    this.held.clear();
    await releaseDuties(this.db, this.id);
    await removeNode(this.db, this.id);
  }

  private async beatOnce(): Promise<void> {
    const now = Date.now();
    // one transaction: this node's row, its duties, the rows of nodes long gone, and the nodes' rows as they are now
    const [, taken, , nodes] = await this.db.batch([
      beat(this.db, this.id, now, this.options.agentsHeld(), this.draining),
      holdDuties(this.db, this.id, now, this.dutyTtlMs),
      forgetStaleNodes(this.db, now),
      listNodes(this.db),
    ]);
    const epochs = new Map(taken.map((d) => [d.name, d.epoch]));
    for (const duty of DUTIES) {
      const epoch = epochs.get(duty);
      if (epoch === undefined) {
        if (this.held.delete(duty)) console.log(`[cluster] node ${this.id} lost the ${duty} duty`);
      } else {
        if (!this.holds(duty)) console.log(`[cluster] node ${this.id} holds the ${duty} duty (epoch ${epoch})`);
        // counted from before the write: the database's expiry is at least this late
        this.held.set(duty, now + this.dutyTtlMs - SAFETY_MS);
      }
    }
    const others = this.othersOf(nodes, now);
    this.peers = others.length;
    await this.options.onBeat?.(others);
  }

  /** Whether a node beat recently enough to be counted alive. */
  alive(node: NodeRow, now = Date.now()): boolean {
    return node.lastSeenAt > now - ALIVE_BEATS * this.beatMs;
  }

  /** The other nodes alive now, oldest first. */
  async others(): Promise<NodeRow[]> {
    return this.othersOf(await listNodes(this.db), Date.now());
  }

  private othersOf(nodes: NodeRow[], now: number): NodeRow[] {
    return nodes.filter((n) => n.id !== this.id && this.alive(n, now));
  }
}
