import { and, desc, eq, inArray, isNotNull, sql } from "drizzle-orm";
import { ON_AGENT_STATES } from "../../shared/states.ts";
import { type Context, Hono } from "hono";
import { DroverError } from "../../shared/errors.ts";
import { newId } from "../../shared/ids.ts";
import type { CacheEntry, CacheStored, Stored, StoredArtifact, WorkspaceArchive } from "../../shared/protocol/archive-api.ts";
import type { Db } from "../db/open.ts";
import { artifacts, caches, steps } from "../db/schema.ts";
import { cacheOwner, runOwner } from "../objects/registry.ts";
import { putStream } from "../objects/put.ts";
import type { AttemptState } from "../engine/types.ts";
import { succeededAncestors } from "../runs/ancestors.ts";
import type { AppEnv } from "./env.ts";
import { notFound } from "./errors.ts";

/** The calling agent's own running attempt, or a 403: an agent may touch only its own attempts. */
export function ownAttempt(c: Context<AppEnv>, states: AttemptState[] = ["running"]) {
  const found = c.get("services").scheduler.attempt(c.req.param("attempt") ?? "");
  const principal = c.get("principal");
  if (!principal.agentId || found?.attempt.agentId !== principal.agentId || !states.includes(found.attempt.state)) {
    throw new DroverError("forbidden", "this attempt is not running on the calling agent");
  }
  return { ...found, task: found.active.tasks.get(found.attempt.taskId)! };
}

/**
 * Stores what the agent uploads; the upload is aborted should the agent's lease lapse meanwhile.
 * Workspaces and caches are not hashed: only the agents read them back, and the hash would be a
 * third of the coordinator's work on them.
 */
async function putFromAgent(c: Context<AppEnv>, found: ReturnType<typeof ownAttempt>, key: string, hash: boolean) {
  const { store, fleet } = c.get("services");
  const upload = fleet.uploads.track(found.attempt.agentId!);
  try {
    return await putStream(store, key, c.req.raw.body, { signal: upload.signal, hash });
  } finally {
    upload.done();
  }
}

const cacheGroupOf = (found: ReturnType<typeof ownAttempt>) => found.active.run.cacheGroup ?? found.active.run.group;

/** Workspace archive keys of the attempt's ancestors, in level-then-name order, step order within a task. */
async function ancestorArchiveKeys(db: Db, found: ReturnType<typeof ownAttempt>) {
  const parents = succeededAncestors(found.active, found.task).map((p) => ({ task: p.task.name, attemptId: p.attempt.id }));
  if (parents.length === 0) return [];
  const rows = await db
    .select({ attemptId: steps.attemptId, object: steps.archiveObject })
    .from(steps)
    .where(and(inArray(steps.attemptId, parents.map((p) => p.attemptId)), isNotNull(steps.archiveObject)))
    .orderBy(steps.index);
  return parents.flatMap((p) =>
    rows.filter((r) => r.attemptId === p.attemptId).map((r) => ({ task: p.task, object: r.object! })),
  );
}

/** The ancestors' archives that are in storage, with their sizes. */
async function ancestorArchives(c: Context<AppEnv>, found: ReturnType<typeof ownAttempt>) {
  const { db, store } = c.get("services");
  const archives: WorkspaceArchive[] = [];
  for (const archive of await ancestorArchiveKeys(db, found)) {
    const stat = await store.stat(archive.object);
    if (stat) archives.push({ ...archive, size: stat.size });
  }
  return archives;
}

type Workspaces = { archives: WorkspaceArchive[] };

export const agentArchiveRoutes = new Hono<AppEnv>();

/** The run's uploaded source, fetched right after the assignment: the accept may not have been applied yet. */
agentArchiveRoutes.get("/attempts/:attempt/workspace", async (c) => {
  const found = ownAttempt(c, [...ON_AGENT_STATES]);
  const key = found.active.run.workspace;
  const body = key ? await c.get("services").store.body(key) : null;
  if (!body) throw notFound("workspace archive");
  return c.body(body, 200, { "content-type": "application/gzip" });
});

agentArchiveRoutes.put("/attempts/:attempt/steps/:step/workspace", async (c) => {
  const found = ownAttempt(c);
  const step = Number(c.req.param("step"));
  const { registry, db } = c.get("services");
  const key = `workspaces/${found.active.run.id}/${found.attempt.id}-${step}.tar.zst`;
  const stored = await putFromAgent(c, found, key, false);
  await registry.record(key, "workspace", stored, runOwner(found.active.run.id));
  await db
    .update(steps)
    .set({ archiveObject: key })
    .where(and(eq(steps.attemptId, found.attempt.id), eq(steps.index, step)));
  return c.json({ object: key, ...stored } satisfies Stored, 201);
});

agentArchiveRoutes.get("/attempts/:attempt/workspaces", async (c) => {
  return c.json({ archives: await ancestorArchives(c, ownAttempt(c)) } satisfies Workspaces);
});

/** Reads an object the attempt may see: its ancestors' archives, its cache group's caches, the run's upload. */
agentArchiveRoutes.get("/attempts/:attempt/objects/:key{.+}", async (c) => {
  const found = ownAttempt(c);
  const key = c.req.param("key");
  const { db, store } = c.get("services");
  let allowed = key === found.active.run.workspace || (await ancestorArchiveKeys(db, found)).some((a) => a.object === key);
  if (!allowed) {
    const [cache] = await db
      .select({ key: caches.key })
      .from(caches)
      .where(and(eq(caches.group, cacheGroupOf(found)), eq(caches.object, key)));
    allowed = !!cache;
  }
  if (!allowed) throw new DroverError("forbidden", `attempt ${found.attempt.id} may not read ${key}`);
  const body = await store.body(key);
  if (!body) throw notFound(`object ${key}`);
  return c.body(body, 200, { "content-type": "application/octet-stream" });
});

/** `?prefix=` finds the newest cache whose key starts with it; a path key is an exact lookup. */
async function findCache(c: Context<AppEnv>, group: string, key: string, prefix: boolean) {
  const { db } = c.get("services");
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

agentArchiveRoutes.get("/attempts/:attempt/caches", async (c) => {
  const row = await findCache(c, cacheGroupOf(ownAttempt(c)), c.req.query("prefix") ?? "", true);
  if (!row) throw notFound(`cache with prefix ${c.req.query("prefix")}`);
  return c.json({ key: row.key, object: row.object, size: row.size } satisfies CacheEntry);
});

agentArchiveRoutes.get("/attempts/:attempt/caches/:key{.+}", async (c) => {
  const row = await findCache(c, cacheGroupOf(ownAttempt(c)), c.req.param("key"), false);
  if (!row) throw notFound(`cache ${c.req.param("key")}`);
  return c.json({ key: row.key, object: row.object, size: row.size } satisfies CacheEntry);
});

/** Two concurrent saves of one key both upload, but only the first row wins; the loser's bytes are dropped. */
agentArchiveRoutes.put("/attempts/:attempt/caches/:key{.+}", async (c) => {
  const found = ownAttempt(c);
  const group = cacheGroupOf(found);
  const key = c.req.param("key");
  const { db, store, registry } = c.get("services");
  if (await findCache(c, group, key, false)) return c.json({ stored: false } satisfies CacheStored, 200);
  const object = `caches/${Bun.hash(group).toString(16)}/${newId()}.tar.zst`;
  const stored = await putFromAgent(c, found, object, false);
  const now = Date.now();
  const inserted = await db
    .insert(caches)
    .values({ group, key, object, size: stored.size, createdAt: now, lastUsedAt: now })
    .onConflictDoNothing()
    .returning({ key: caches.key });
  if (inserted.length === 0) {
    await store.delete(object);
    return c.json({ stored: false } satisfies CacheStored, 200);
  }
  await registry.record(object, "cache", stored, cacheOwner(group, key));
  return c.json({ stored: true } satisfies CacheStored, 201);
});

agentArchiveRoutes.put("/attempts/:attempt/artifacts/:path{.+}", async (c) => {
  const found = ownAttempt(c);
  const path = c.req.param("path");
  if (path.startsWith("/") || path.split("/").some((s) => s === ".." || s === "." || s === "")) {
    throw new DroverError("bad_request", `artifact path ${path} must be relative, without . or .. segments`);
  }
  const { db, registry } = c.get("services");
  const runId = found.active.run.id;
  const object = `artifacts/${runId}/${found.attempt.id}/${path}`;
  const stored = await putFromAgent(c, found, object, true);
  await registry.record(object, "artifact", stored, runOwner(runId));
  const row = { runId, task: found.task.name, attemptId: found.attempt.id, path, object, ...stored, createdAt: Date.now() };
  await db
    .insert(artifacts)
    .values(row)
    .onConflictDoUpdate({ target: [artifacts.runId, artifacts.task, artifacts.path], set: row });
  return c.json({ path, ...stored } satisfies StoredArtifact, 201);
});

