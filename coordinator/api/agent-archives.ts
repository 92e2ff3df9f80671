import { and, eq, inArray, isNotNull } from "drizzle-orm";
import { type Context, Hono } from "hono";
import { DroverError } from "../../shared/errors.ts";
import { type CacheEntry, DIRECT_HEADER, type DownloadLink, type UploadTarget, type WorkspaceArchive } from "../../shared/protocol/archive-api.ts";
import type { Db } from "../db/open.ts";
import { caches, steps } from "../db/schema.ts";
import { archiveBytesDirect, archiveBytesProxied } from "../metrics/registry.ts";
import { checkArtifactPath } from "../objects/archive-keys.ts";
import { putStream } from "../objects/put.ts";
import { succeededAncestors } from "../runs/ancestors.ts";
import { offerPrefetch } from "./agent-prefetch.ts";
import { cacheGroupOf, findCache, objectOf, type OwnAttempt, ownAttempt, recordUpload } from "./archive-targets.ts";
import type { AppEnv } from "./env.ts";
import { nonNegativeInteger } from "./validate.ts";
import { notFound } from "./errors.ts";

/**
 * Stores what the agent streams here and records it; the upload is aborted should the agent's lease
 * lapse meanwhile. Workspaces and caches are not hashed: only the agents read them back, and the hash
 * would be a third of the coordinator's work on them.
 */
async function storeFromAgent(c: Context<AppEnv>, found: OwnAttempt, target: UploadTarget) {
  const services = c.get("services");
  const upload = services.fleet.uploads.track(found.attempt.agentId!);
  const object = objectOf(found, target);
  const watcher = target.kind === "workspace" ? offerPrefetch(services, found, object) : null;
  try {
    let stored: Awaited<ReturnType<typeof putStream>>;
    try {
      stored = await putStream(services.store, object, c.req.raw.body, { signal: upload.signal, hash: target.kind === "artifact", watcher: watcher ?? undefined });
    } finally {
      upload.done();
    }
    archiveBytesProxied.inc({ direction: "up" }, stored.size);
    const { status, body } = await recordUpload(services, found, target, stored);
    if (watcher) services.fleet.prefetches.stored(watcher, stored.size);
    return c.json(body, status);
  } catch (e) {
    watcher?.failed(e as Error);
    throw e;
  }
}

/**
 * An object's bytes for the agent: a presigned URL when the agent takes one and the store signs them
 * (the bytes then skip this node), else the bytes themselves.
 */
async function sendObject(c: Context<AppEnv>, key: string, what: string, type = "application/octet-stream") {
  const { store } = c.get("services");
  if (store.direct && c.req.header(DIRECT_HEADER)) {
    const stat = await store.stat(key);
    if (!stat) throw notFound(what);
    c.header(DIRECT_HEADER, "1");
    archiveBytesDirect.inc({ direction: "down" }, stat.size);
    return c.json({ url: await store.direct.getUrl(key), size: stat.size } satisfies DownloadLink);
  }
  const stat = await store.stat(key);
  const body = stat && (await store.body(key));
  if (!stat || !body) throw notFound(what);
  // Counted as it starts: a TransformStream counting the bytes as they went held the response's chunks in
  // JavaScript, and the first GiB served grew the coordinator by 28-61 MiB instead of 5-24.
  archiveBytesProxied.inc({ direction: "down" }, stat.size);
  return c.body(body, 200, { "content-type": type });
}

/** Workspace archive keys of the attempt's ancestors, in level-then-name order, step order within a task. */
async function ancestorArchiveKeys(db: Db, found: OwnAttempt) {
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
async function ancestorArchives(c: Context<AppEnv>, found: OwnAttempt) {
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

/** The run's uploaded source, fetched right after the assignment. */
agentArchiveRoutes.get("/attempts/:attempt/workspace", async (c) => {
  const key = ownAttempt(c).active.run.workspace;
  if (!key) throw notFound("workspace archive");
  return sendObject(c, key, "workspace archive", "application/gzip");
});

agentArchiveRoutes.put("/attempts/:attempt/steps/:step/workspace", async (c) => {
  const step = nonNegativeInteger("step", c.req.param("step"));
  return storeFromAgent(c, ownAttempt(c), { kind: "workspace", step });
});

agentArchiveRoutes.get("/attempts/:attempt/workspaces", async (c) => {
  return c.json({ archives: await ancestorArchives(c, ownAttempt(c)) } satisfies Workspaces);
});

/** Reads an object the attempt may see: its ancestors' archives, its cache group's caches, the run's upload. */
agentArchiveRoutes.get("/attempts/:attempt/objects/:key{.+}", async (c) => {
  const found = ownAttempt(c);
  const key = c.req.param("key");
  const { db } = c.get("services");
  let allowed = key === found.active.run.workspace || (await ancestorArchiveKeys(db, found)).some((a) => a.object === key);
  if (!allowed) {
    const [cache] = await db
      .select({ key: caches.key })
      .from(caches)
      .where(and(eq(caches.group, cacheGroupOf(found)), eq(caches.object, key)));
    allowed = !!cache;
  }
  if (!allowed) throw new DroverError("forbidden", `attempt ${found.attempt.id} may not read ${key}`);
  return sendObject(c, key, `object ${key}`);
});

const cacheAnswer = (row: Awaited<ReturnType<typeof findCache>>, what: string) => {
  if (!row) throw notFound(what);
  return { key: row.key, object: row.object, size: row.size } satisfies CacheEntry;
};

agentArchiveRoutes.get("/attempts/:attempt/caches", async (c) => {
  const prefix = c.req.query("prefix") ?? "";
  const row = await findCache(c.get("services").db, cacheGroupOf(ownAttempt(c)), prefix, true);
  return c.json(cacheAnswer(row, `cache with prefix ${prefix}`));
});

agentArchiveRoutes.get("/attempts/:attempt/caches/:key{.+}", async (c) => {
  const key = c.req.param("key");
  return c.json(cacheAnswer(await findCache(c.get("services").db, cacheGroupOf(ownAttempt(c)), key, false), `cache ${key}`));
});

/** Caches are immutable: a key saved already is not uploaded again, and its body is not read. */
agentArchiveRoutes.put("/attempts/:attempt/caches/:key{.+}", async (c) => {
  const found = ownAttempt(c);
  const key = c.req.param("key");
  if (await findCache(c.get("services").db, cacheGroupOf(found), key, false)) return c.json({ stored: false }, 200);
  return storeFromAgent(c, found, { kind: "cache", key });
});

agentArchiveRoutes.put("/attempts/:attempt/artifacts/:path{.+}", async (c) => {
  return storeFromAgent(c, ownAttempt(c), { kind: "artifact", path: checkArtifactPath(c.req.param("path")) });
});
