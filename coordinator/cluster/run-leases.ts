import type { InStatement } from "@libsql/client";
import { and, eq, getTableName, inArray, lt, notInArray, or, sql } from "drizzle-orm";
import type { Db } from "../db/open.ts";
import { runFences, runs } from "../db/schema.ts";
import { OPEN_RUN_PHASES } from "../../shared/states.ts";
import { breathe } from "../runs/serial.ts";

const OPEN_PHASES = [...OPEN_RUN_PHASES];

/**
 * The holder stops acting on a run this long before its lease runs out in the database, so it has stopped
 * before another node may take the run (the nodes' clocks are assumed to agree to well within this).
 */
const SAFETY_MS = 500;

/** How many runs one statement of a renewal renews: a few milliseconds of the event loop each. */
const RENEW_SLICE = 250;
/** How long into a renewal its slices let the event loop through; a beat comes every second and a lease lasts 3 s. */
const RENEW_YIELDS_MS = 250;

/** How many ownerless runs one node takes per beat, so that the runs of a dead node spread over the others. */
const CLAIM_BATCH = 200;

/**
 * A run's fence (`fence`) as plain SQL: drizzle built its text anew at every advance, 7 µs hot and about 70 µs with its
 * code gone cold between a chain's steps, inside the span from a task's ready to its assignment sent.
 */
const FENCE_SQL = `INSERT INTO "${getTableName(runFences)}" (ok) SELECT NULL WHERE NOT EXISTS (SELECT 1 FROM "${getTableName(runs)}" WHERE "${runs.id.name}" = ? AND "${runs.ownerNode.name}" = ? AND "${runs.ownerEpoch.name}" = ?)`;

/**
 * Which runs this node drives. A run's engine is driven by exactly one node at a time: the one holding the
 * run's lease in `runs` (owner_node, owner_epoch, owner_expires_at), taken and renewed by single conditional
 * updates. Every write the run's engine makes is fenced by the epoch (`fence`), so a node that lost the lease
 * cannot change the run even if it has not noticed yet.
 */
export class RunLeases {
  /** runs held, with the epoch and until when this node may act (local clock) */
  private readonly held = new Map<string, { epoch: number; until: number }>();
  /**
   * Runs whose advance was asked for while this node still held them but its renewal was late (a stalled event loop):
   * they are advanced once renewed, or nothing would ask again and the run would wait forever.
   */
  private readonly deferred = new Set<string>();

  constructor(
    private readonly db: Db,
    readonly node: string,
    readonly ttlMs = 3000,
  ) {}

  owns(runId: string, now = Date.now()): boolean {
    const lease = this.held.get(runId);
    return !!lease && lease.until > now;
  }

  /** The epoch this node holds the run at, or -1 (what a fence then refuses). */
  epoch(runId: string): number {
    return this.held.get(runId)?.epoch ?? -1;
  }

  /**
   * Whether the run is this node's, though it may not act on it now (its lease's renewal is late): the advance asked
   * for is then remembered, for `resumable` once renewed.
   */
  defer(runId: string): boolean {
    if (!this.held.has(runId)) return false;
    this.deferred.add(runId);
    return true;
  }

  /** The deferred runs this node may act on again (renewed), forgetting those it lost meanwhile. */
  resumable(now = Date.now()): string[] {
    const ready = [...this.deferred].filter((id) => this.owns(id, now) || !this.held.has(id));
    for (const id of ready) this.deferred.delete(id);
    return ready.filter((id) => this.held.has(id));
  }

  get count(): number {
    return this.held.size;
  }

  /** The lease columns of a run this node creates (or reopens): it drives the runs it starts. */
  fresh(runId: string, epoch = 1, now = Date.now()): { ownerNode: string; ownerEpoch: number; ownerExpiresAt: number } {
    this.held.set(runId, { epoch, until: now + this.ttlMs - SAFETY_MS });
    return { ownerNode: this.node, ownerEpoch: epoch, ownerExpiresAt: now + this.ttlMs };
  }

  /**
   * The first statement of a run's write batch: it inserts NULL into a NOT NULL column, failing the whole batch,
   * unless this node still holds the run at its epoch.
   */
  fence(runId: string): InStatement {
    return { sql: FENCE_SQL, args: [runId, this.node, this.epoch(runId)] };
  }

  /**
   * Renews every open run this node holds, `RENEW_SLICE` runs a statement, letting the event loop through between
   * slices for the first `RENEW_YIELDS_MS` (then it goes on without, so a busy loop cannot draw a renewal out towards
   * the leases' end); returns the runs it no longer holds. In one statement, renewing the thousands of runs a loaded
   * node holds held the loop for 30–230 ms every beat. Each slice's leases count from that slice's own write.
   */
  async renew(): Promise<string[]> {
    const asked = [...this.held];
    const began = performance.now();
    const lost: string[] = [];
    for (let i = 0; i < asked.length; i += RENEW_SLICE) {
      if (performance.now() - began < RENEW_YIELDS_MS) await breathe();
      const slice = asked.slice(i, i + RENEW_SLICE);
      const now = Date.now();
      // `+phase` keeps SQLite to the ids: through the phase index, each slice walked every open run
      const renewed = await this.db.all<{ id: string; epoch: number }>(
        sql`UPDATE ${runs} SET owner_expires_at = ${now + this.ttlMs} WHERE ${runs.id} IN (SELECT value FROM json_each(${JSON.stringify(slice.map(([id]) => id))})) AND ${runs.ownerNode} = ${this.node} AND +${runs.phase} IN (${sql.join(
          OPEN_PHASES.map((p) => sql`${p}`),
          sql`, `,
        )}) RETURNING id, owner_epoch AS epoch`,
      );
      const kept = new Map(renewed.map((r) => [r.id, r.epoch]));
      for (const [id, lease] of slice) {
        // forgotten meanwhile (the run ended), or taken anew (reopened): the renewal asked about a lease gone
        if (this.held.get(id) !== lease) continue;
        if (kept.get(id) === lease.epoch) lease.until = now + this.ttlMs - SAFETY_MS;
        else {
          this.held.delete(id);
          lost.push(id);
        }
      }
    }
    return lost;
  }

  /** Takes open runs whose lease ran out (their node died or left), a bounded number per call. */
  async claim(now = Date.now()): Promise<string[]> {
    const orphans = this.db
      .select({ id: runs.id })
      .from(runs)
      .where(and(inArray(runs.phase, OPEN_PHASES), lt(runs.ownerExpiresAt, now)))
      .limit(CLAIM_BATCH);
    const taken = await this.db
      .update(runs)
      .set({ ownerNode: this.node, ownerEpoch: sql`${runs.ownerEpoch} + 1`, ownerExpiresAt: now + this.ttlMs })
      .where(and(inArray(runs.id, orphans), lt(runs.ownerExpiresAt, now)))
      .returning({ id: runs.id, epoch: runs.ownerEpoch });
    for (const t of taken) this.held.set(t.id, { epoch: t.epoch, until: now + this.ttlMs - SAFETY_MS });
    return taken.map((t) => t.id);
  }

  /**
   * Takes one run that is finished (a rerun reopens it), whose lease ran out or that this node held, in one
   * conditional update; false when another live node holds it.
   */
  async take(runId: string, now = Date.now()): Promise<boolean> {
    if (this.owns(runId, now)) return true;
    const [row] = await this.db
      .update(runs)
      .set({ ownerNode: this.node, ownerEpoch: sql`${runs.ownerEpoch} + 1`, ownerExpiresAt: now + this.ttlMs })
      .where(
        and(
          eq(runs.id, runId),
          or(notInArray(runs.phase, OPEN_PHASES), lt(runs.ownerExpiresAt, now), eq(runs.ownerNode, this.node)),
        ),
      )
      .returning({ epoch: runs.ownerEpoch });
    if (!row) return false;
    this.held.set(runId, { epoch: row.epoch, until: now + this.ttlMs - SAFETY_MS });
    return true;
  }

  /**
   * The run finished, or its batch was refused: this node no longer acts on it. A refusal names the epoch its fence
   * was written at: a lease this node took again meanwhile (a newer epoch) is kept.
   */
  forget(runId: string, epoch?: number): void {
    if (epoch !== undefined && this.held.get(runId)?.epoch !== epoch) return;
    this.held.delete(runId);
    this.deferred.delete(runId);
  }

  /** Gives every held run up (a node stopping), so another node takes them at its next beat instead of at expiry. */
  async release(): Promise<void> {
    this.held.clear();
    await this.db.update(runs).set({ ownerExpiresAt: 0 }).where(eq(runs.ownerNode, this.node));
  }
}

/** Whether a write failed because the batch's fence refused it: the node lost the run's lease. */
export const fenced = (e: unknown) => /run_fences\.ok/.test(String((e as Error)?.message ?? e));
