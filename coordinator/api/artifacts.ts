import { and, asc, eq } from "drizzle-orm";
import { Hono } from "hono";
import { artifacts } from "../db/schema.ts";
import { requireRole } from "./auth.ts";
import type { AppEnv } from "./env.ts";
import { notFound } from "./errors.ts";

export const artifactRoutes = new Hono<AppEnv>();

artifactRoutes.get("/:id/artifacts", requireRole("viewer"), async (c) => {
  const id = c.req.param("id");
  const rows = await c
    .get("services")
    .db.select()
    .from(artifacts)
    .where(eq(artifacts.runId, id))
    .orderBy(asc(artifacts.task), asc(artifacts.path));
  return c.json({
    artifacts: rows.map((a) => ({
      task: a.task,
      path: a.path,
      size: a.size,
      sha256: a.sha256,
      // every segment percent-encoded: a path may hold '#', '?', '%' or spaces
      url: `/api/v1/runs/${encodeURIComponent(id)}/artifacts/${encodeURIComponent(a.task)}/${a.path.split("/").map(encodeURIComponent).join("/")}`,
    })),
  });
});

artifactRoutes.get("/:id/artifacts/:task/:path{.+}", requireRole("viewer"), async (c) => {
  const { db, store } = c.get("services");
  const { id, task, path } = c.req.param();
  const [row] = await db
    .select()
    .from(artifacts)
    .where(and(eq(artifacts.runId, id), eq(artifacts.task, task), eq(artifacts.path, path)));
  const body = row ? await store.body(row.object) : null;
  if (!row || !body) throw notFound(`artifact ${task}/${path} of run ${id}`);
  return c.body(body, 200, {
    "content-type": "application/octet-stream",
    "content-length": String(row.size),
    "x-checksum-sha256": row.sha256,
  });
});
