import { randomBytes } from "node:crypto";
import { asc, eq } from "drizzle-orm";
import { Hono } from "hono";
import { DroverError } from "../../shared/errors.ts";
import { newId } from "../../shared/ids.ts";
import { hooks } from "../db/schema.ts";
import { createRun } from "../runs/create-run.ts";
import { sourceOf } from "../../shared/source.ts";
import { hookVariables, readHookBody, signatureMatches } from "../triggers/hook.ts";
import { checkPipeline } from "../triggers/validate.ts";
import { requireRole } from "./auth.ts";
import type { AppEnv } from "./env.ts";
import { notFound } from "./errors.ts";
import { summarize } from "../runs/run-view.ts";
import { parseBody, SUBMISSION_BODY_BYTES } from "./validate.ts";
import { CreateHook } from "./openapi/requests.ts";

/** Managing hooks needs a bearer token like the rest of the API. */
export const hookRoutes = new Hono<AppEnv>();

hookRoutes.post("/", requireRole("member"), async (c) => {
  const body = await parseBody(c, CreateHook, SUBMISSION_BODY_BYTES);
  checkPipeline(body.pipeline);
  const row = { id: newId(), secret: randomBytes(32).toString("hex"), ...body, user: c.get("principal").user, createdAt: Date.now() };
  await c.get("services").db.insert(hooks).values(row);
  return c.json({ ...row, url: `/api/v1/hooks/${row.id}` }, 201);
});

hookRoutes.get("/", requireRole("viewer"), async (c) => {
  const rows = await c.get("services").db.select().from(hooks).orderBy(asc(hooks.id));
  return c.json({ hooks: rows.map(({ secret: _secret, ...r }) => r) });
});

hookRoutes.delete("/:id", requireRole("member"), async (c) => {
  const deleted = await c.get("services").db.delete(hooks).where(eq(hooks.id, c.req.param("id"))).returning({ id: hooks.id });
  if (deleted.length === 0) throw notFound(`hook ${c.req.param("id")}`);
  return c.json({ id: c.req.param("id"), deleted: true });
});

/**
 * The receiver is called by other systems, which hold the hook's secret but no bearer token:
 * the signature authenticates them, so it is mounted ahead of the token middleware.
 */
export const hookReceiverRoutes = new Hono<AppEnv>();

hookReceiverRoutes.post("/:id", async (c) => {
  const { db, scheduler } = c.get("services");
  const [hook] = await db.select().from(hooks).where(eq(hooks.id, c.req.param("id")));
  if (!hook) throw notFound(`hook ${c.req.param("id")}`);
  const body = await readHookBody(c.req.raw);
  if (!signatureMatches(hook.secret, body, c.req.header("x-hub-signature-256"))) {
    throw new DroverError("unauthorized", "missing or wrong X-Hub-Signature-256 signature");
  }
  const run = await createRun(db, scheduler, {
    pipeline: hook.pipeline,
    group: hook.group,
    user: hook.user,
    variables: hookVariables(body),
    source: sourceOf("api", `hook:${hook.id}`),
  });
  return c.json(summarize(run), 201);
});
