import { and, desc, eq, sql } from "drizzle-orm";
import type { Context, MiddlewareHandler } from "hono";
import { DroverError } from "../../shared/errors.ts";
import type { CacheStored, Stored, StoredArtifact, UploadTarget } from "../../shared/protocol/archive-api.ts";
import { ON_AGENT_STATES } from "../../shared/states.ts";
import type { Db } from "../db/open.ts";
import { artifacts, caches, steps } from "../db/schema.ts";
import { archiveKey } from "../objects/archive-keys.ts";
import { cacheOwner, runOwner } from "../objects/registry.ts";
import type { PutResult } from "../store/object-store.ts";
import type { Services } from "../services.ts";
import type { AppEnv } from "./env.ts";

/**
 * Reads the attempt again from the database when this node's memory does not show it on the calling agent: it may
 * lag another node (a load balancer sent the agent's request to a node its connection is not on).
 */
export const freshAttempt: MiddlewareHandler<AppEnv> = async (c, next) => {
  const { scheduler } = c.get("services");
  const id = c.req.param("attempt") ?? "";
  const found = scheduler.attempt(id);
  const agentId = c.get("principal").agentId;
  if (agentId && !(found?.attempt.agentId === agentId && ON_AGENT_STATES.has(found.attempt.state))) {
    await scheduler.serial.run(() => scheduler.readAttempt(id));
  }
  await next();
};

/**
 * The calling agent's own attempt, assigned to it or running there, or a 403: an agent may touch only its own
 * attempts, and none that ended. Assigned counts: the accept and the step's reports travel on the WebSocket and
 * this request on HTTP, and under load or through a proxy the request can come first.
 */
export function ownAttempt(c: Context<AppEnv>) {
  const found = c.get("services").scheduler.attempt(c.req.param("attempt") ?? "");
  const principal = c.get("principal");
  if (!principal.agentId || found?.attempt.agentId !== principal.agentId || !ON_AGENT_STATES.has(found.attempt.state)) {
    throw new DroverError("forbidden", "this attempt is not running on the calling agent");
  }
  return { ...found, task: found.active.tasks.get(found.attempt.taskId)! };
}

export type OwnAttempt = ReturnType<typeof ownAttempt>;

export const cacheGroupOf = (found: OwnAttempt) => found.active.run.cacheGroup ?? found.active.run.group;

/** The object key of the attempt's upload of `target`. */
export const objectOf = (found: OwnAttempt, target: UploadTarget) =>
  archiveKey({ runId: found.active.run.id, attemptId: found.attempt.id, cacheGroup: cacheGroupOf(found) }, target);

/** `prefix` finds the newest cache whose key starts with `key`; otherwise an exact lookup. */
export async function findCache(db: Db, group: string, key: string, prefix: boolean) {
  // LIKE would read `_` and `%` in the prefix as wildcards, and ignore case
  const startsWith = sql`substr(${caches.key}, 1, length(${key})) = ${key}`;
  const [row] = await db
    .select()
    .from(caches)
    .where(and(eq(caches.group, group), prefix ? startsWith : eq(caches.key, key)))
    .orderBy(desc(caches.createdAt))
    .limit(1);
  if (row) await db.update(caches).set({ lastUsedAt: Date.now() }).where(and(eq(caches.group, group), eq(caches.key, row.key)));
  return row;
}

export type UploadAnswer = { status: 200 | 201; body: Stored | CacheStored | StoredArtifact };

/**
 * Records a stored upload, however its bytes came (streamed through this node, or straight to the
 * bucket): the registry row and the row that references it. Two concurrent saves of one cache key
 * both upload, but only the first row wins; the loser's bytes are dropped.
 */
export async function recordUpload(services: Services, found: OwnAttempt, target: UploadTarget, stored: PutResult): Promise<UploadAnswer> {
  const { db, registry, store } = services;
  const object = objectOf(found, target);
  const runId = found.active.run.id;
  switch (target.kind) {
    case "workspace": {
      await registry.record(object, "workspace", stored, runOwner(runId), [
        db
          .update(steps)
          .set({ archiveObject: object })
          .where(and(eq(steps.attemptId, found.attempt.id), eq(steps.index, target.step))),
      ]);
      return { status: 201, body: { object, ...stored } };
    }
    case "cache": {
      const group = cacheGroupOf(found);
      const now = Date.now();
      const inserted = await db
        .insert(caches)
        .values({ group, key: target.key, object, size: stored.size, createdAt: now, lastUsedAt: now })
        .onConflictDoNothing()
        .returning({ key: caches.key });
      if (inserted.length === 0) {
        await store.delete(object);
        return { status: 200, body: { stored: false } };
      }
      await registry.record(object, "cache", stored, cacheOwner(group, target.key));
      return { status: 201, body: { stored: true } };
    }
    case "artifact": {
      const row = { runId, task: found.task.name, attemptId: found.attempt.id, path: target.path, object, ...stored, createdAt: Date.now() };
      await registry.record(object, "artifact", stored, runOwner(runId), [
        db
          .insert(artifacts)
          .values(row)
          .onConflictDoUpdate({ target: [artifacts.runId, artifacts.task, artifacts.path], set: row }),
      ]);
      return { status: 201, body: { path: target.path, ...stored } };
    }
  }
}
