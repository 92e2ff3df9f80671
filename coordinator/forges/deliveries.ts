import { and, desc, eq, gt, lt, sql } from "drizzle-orm";
import { newId } from "../../shared/ids.ts";
import type { Db } from "../db/open.ts";
import { deliveries } from "../db/schema.ts";
import { webhookDeliveries } from "../metrics/registry.ts";

export type DeliveryRow = typeof deliveries.$inferSelect;

/**
 * What became of a delivery: still `pending` (answered 202 while the commit is fetched), a run `created`, `filtered` by the pipeline's `on:`, `ignored` (a ping, a closed
 * pull request…), a `duplicate` of one seen before, `refused` (not signed with the project's secret, or over
 * the size bound), `invalid` (not a forge's delivery, or not the shape of its event), or the commit had
 * `no_pipeline`, an `invalid_pipeline`, or was `unreachable`.
 */
export type DeliveryOutcome =
  | "pending"
  | "created"
  | "filtered"
  | "ignored"
  | "duplicate"
  | "refused"
  | "invalid"
  | "no_pipeline"
  | "invalid_pipeline"
  | "unreachable";

type NewDelivery = Omit<
  DeliveryRow,
  "id" | "receivedAt" | "claim" | "runId" | "runNumber" | "reason" | "forge" | "event" | "deliveryId" | "ref"
> &
  Partial<DeliveryRow>;

/** The newest deliveries kept per project: the receiver needs no token, so refused ones must not pile up. */
const KEEP_PER_PROJECT = 1000;

/** Records a delivery; with `claim` set, only the first delivery of that id is recorded (undefined for the others). */
export async function recordDelivery(db: Db, row: NewDelivery): Promise<DeliveryRow | undefined> {
  const values = {
    forge: null,
    event: null,
    deliveryId: null,
    ref: null,
    reason: null,
    runId: null,
    runNumber: null,
    claim: null,
    ...row,
  };
  const [inserted] = await db
    .insert(deliveries)
    .values({ ...values, id: newId(), receivedAt: row.receivedAt ?? Date.now() })
    .onConflictDoNothing()
    .returning();
  const cutoff = sql`(select ${deliveries.receivedAt} from ${deliveries} where ${deliveries.projectId} = ${row.projectId}
    order by ${deliveries.receivedAt} desc limit 1 offset ${KEEP_PER_PROJECT - 1})`;
  await db.delete(deliveries).where(and(eq(deliveries.projectId, row.projectId), lt(deliveries.receivedAt, cutoff)));
  if (inserted) count(inserted);
  return inserted;
}

export async function settleDelivery(db: Db, id: string, patch: Partial<DeliveryRow>): Promise<DeliveryRow> {
  const [row] = await db.update(deliveries).set(patch).where(eq(deliveries.id, id)).returning();
  if (patch.outcome) count(row!);
  return row!;
}

/** Each delivery is counted once, by its final outcome: a pending one when it settles. */
function count(row: DeliveryRow): void {
  if (row.outcome !== "pending") webhookDeliveries.inc({ forge: row.forge ?? "unknown", outcome: row.outcome });
}

/** The delivery that already built this tag lately: GitHub sends both a push and a create event for a new tag. */
export async function recentTagRun(db: Db, projectId: string, ref: string, sinceMs: number): Promise<DeliveryRow | undefined> {
  const [row] = await db
    .select()
    .from(deliveries)
    .where(
      and(
        eq(deliveries.projectId, projectId),
        eq(deliveries.ref, ref),
        eq(deliveries.outcome, "created"),
        gt(deliveries.receivedAt, sinceMs),
      ),
    )
    .limit(1);
  return row;
}

export async function listDeliveries(db: Db, projectId: string, limit: number): Promise<DeliveryRow[]> {
  return db
    .select()
    .from(deliveries)
    .where(eq(deliveries.projectId, projectId))
    .orderBy(desc(deliveries.receivedAt), desc(deliveries.id))
    .limit(limit);
}

/** A delivery as the API and the UI show it. */
export function deliveryView(row: DeliveryRow) {
  return {
    id: row.id,
    delivery_id: row.deliveryId,
    forge: row.forge,
    event: row.event,
    ref: row.ref,
    received_at: row.receivedAt,
    outcome: row.outcome as DeliveryOutcome,
    reason: row.reason,
    run: row.runId ? { id: row.runId, number: row.runNumber } : null,
    status: row.status,
  };
}
