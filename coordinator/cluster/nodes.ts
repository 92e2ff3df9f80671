import { eq, lt } from "drizzle-orm";
import type { Db } from "../db/open.ts";
import { clusterNodes } from "../db/schema.ts";

export type NodeRow = typeof clusterNodes.$inferSelect;

/** A node not seen for this long has left (or died) and its row is removed by whichever node notices. */
export const FORGET_NODE_MS = 10 * 60 * 1000;

export async function registerNode(db: Db, node: Pick<NodeRow, "id" | "url">, now: number): Promise<void> {
  await db.insert(clusterNodes).values({ ...node, startedAt: now, lastSeenAt: now, agents: 0, draining: false });
}

/** One write per beat: when it was last alive, how many agents it holds, whether it is draining. */
export function beat(db: Db, id: string, now: number, agents: number, draining: boolean) {
  return db.update(clusterNodes).set({ lastSeenAt: now, agents, draining }).where(eq(clusterNodes.id, id));
}

export function forgetStaleNodes(db: Db, now: number) {
  return db.delete(clusterNodes).where(lt(clusterNodes.lastSeenAt, now - FORGET_NODE_MS));
}

export async function removeNode(db: Db, id: string): Promise<void> {
  await db.delete(clusterNodes).where(eq(clusterNodes.id, id));
}

/** Every node's row, oldest first (a query, so that the beat can read it in its own transaction). */
export function listNodes(db: Db) {
  return db.select().from(clusterNodes).orderBy(clusterNodes.startedAt);
}
