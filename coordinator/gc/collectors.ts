import { and, eq, inArray, lt, notInArray, type SQL, sql } from "drizzle-orm";
import type { Db } from "../db/open.ts";
import { artifacts, caches, objectOwners, objects, runs } from "../db/schema.ts";
import { gcRemoved } from "../metrics/registry.ts";
import { cacheOwner, type ObjectKind, type ObjectRegistry } from "../objects/registry.ts";
import type { ObjectStore } from "../store/object-store.ts";
import type { Retention } from "./retention.ts";
import { abortAbandonedUploads } from "./uploads.ts";

export interface CollectorContext {
  db: Db;
  registry: ObjectRegistry;
  store: ObjectStore;
  retention: Retention;
  now: number;
}

/** Ownership of expired objects of one kind is dropped; the unowned collector then deletes the bytes. */
async function expire(ctx: CollectorContext, kind: ObjectKind, keep?: SQL): Promise<number> {
  const expired = await ctx.db
    .select({ key: objects.key })
    .from(objects)
    .where(and(eq(objects.kind, kind), lt(objects.createdAt, ctx.now - ctx.retention[retentionOf(kind)]), keep));
  if (expired.length === 0) return 0;
  const keys = expired.map((e) => e.key);
  await ctx.db.delete(objectOwners).where(inArray(objectOwners.key, keys));
  if (kind === "artifact") await ctx.db.delete(artifacts).where(inArray(artifacts.object, keys));
  return ctx.registry.deleteUnowned({ olderThan: ctx.now + 1, keys });
}

const retentionOf = (kind: ObjectKind): keyof Retention =>
  kind === "log" ? "logs" : kind === "workspace" ? "workspaces" : kind === "artifact" ? "artifacts" : "unowned";

/**
 * The workspaces of a group's latest failed run stay until a newer run of that
 * group finishes, so a failure can still be debugged with what it produced.
 */
async function keptForDebugging(db: Db): Promise<string[]> {
  const rows = await db.all<{ key: string }>(sql`
    SELECT o.key FROM ${objectOwners} o
    JOIN ${runs} r ON o.owner = 'run:' || r.id
    WHERE o.key LIKE 'workspaces/%' AND r.result = 'failed'
      AND r.id = (SELECT MAX(f.id) FROM ${runs} f WHERE f."group" = r."group" AND f.result = 'failed')
      AND NOT EXISTS (SELECT 1 FROM ${runs} n WHERE n."group" = r."group" AND n.id > r.id AND n.phase IN ('finished', 'cancelled'))`);
  return rows.map((r) => r.key);
}

async function expireCaches(ctx: CollectorContext): Promise<number> {
  const stale = await ctx.db.select().from(caches).where(lt(caches.lastUsedAt, ctx.now - ctx.retention.caches));
  for (const c of stale) {
    await ctx.db.delete(caches).where(and(eq(caches.group, c.group), eq(caches.key, c.key)));
    await ctx.registry.dropOwner(cacheOwner(c.group, c.key));
  }
  await ctx.registry.deleteUnowned({ olderThan: ctx.now + 1, keys: stale.map((c) => c.object) });
  return stale.length;
}

/** Each collector is independent and idempotent: running one twice, or after a crash, is harmless. */
export const collectors: Record<string, (ctx: CollectorContext) => Promise<number>> = {
  logs: (ctx) => expire(ctx, "log"),
  workspaces: async (ctx) => {
    const kept = await keptForDebugging(ctx.db);
    return expire(ctx, "workspace", kept.length ? notInArray(objects.key, kept) : undefined);
  },
  caches: expireCaches,
  artifacts: (ctx) => expire(ctx, "artifact"),
  unowned: (ctx) => ctx.registry.deleteUnowned({ olderThan: ctx.now - ctx.retention.unowned }),
  uploads: abortAbandonedUploads,
};

export async function collectAll(ctx: Omit<CollectorContext, "now">, now = Date.now()): Promise<Record<string, number>> {
  const removed: Record<string, number> = {};
  for (const [name, collect] of Object.entries(collectors)) {
    try {
      removed[name] = await collect({ ...ctx, now });
      gcRemoved.inc({ collector: name }, removed[name]);
    } catch (e) {
      console.error(`[gc] collector ${name} failed:`, e);
      removed[name] = 0;
    }
  }
  return removed;
}

