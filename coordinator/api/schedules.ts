import { asc, eq, sql } from "drizzle-orm";
import { Hono } from "hono";
import { newId } from "../../shared/ids.ts";
import { schedules } from "../db/schema.ts";
import { cronOf } from "../triggers/tick.ts";
import { checkCron, checkPipeline } from "../triggers/validate.ts";
import { requireRole } from "./auth.ts";
import type { AppEnv } from "./env.ts";
import { notFound } from "./errors.ts";
import { parseBody, SUBMISSION_BODY_BYTES } from "./validate.ts";
import { CreateSchedule, UpdateSchedule } from "./openapi/requests.ts";

/** Variables are listed by name only, as for runs: their values may be secrets. */
function scheduleView({ variables, ...row }: typeof schedules.$inferSelect) {
  return { ...row, variables: Object.keys(variables), nextTick: cronOf(row.cron).nextRun()?.getTime() ?? null };
}

export const scheduleRoutes = new Hono<AppEnv>();

scheduleRoutes.post("/", requireRole("member"), async (c) => {
  const body = await parseBody(c, CreateSchedule, SUBMISSION_BODY_BYTES);
  checkCron(body.cron);
  checkPipeline(body.pipeline);
  const row = { id: newId(), ...body, user: c.get("principal").user, lastTick: null, createdAt: Date.now() };
  await c.get("services").db.insert(schedules).values(row);
  return c.json(scheduleView(row), 201);
});

scheduleRoutes.get("/", requireRole("viewer"), async (c) => {
  const rows = await c.get("services").db.select().from(schedules).orderBy(asc(schedules.id));
  return c.json({ schedules: rows.map(scheduleView) });
});

scheduleRoutes.put("/:id", requireRole("member"), async (c) => {
  const body = await parseBody(c, UpdateSchedule, SUBMISSION_BODY_BYTES);
  if (body.cron !== undefined) checkCron(body.cron);
  if (body.pipeline !== undefined) checkPipeline(body.pipeline);
  // A new cron or a re-enable starts counting from now: occurrences before the change were never this schedule's to miss.
  const restart = body.cron !== undefined || body.enabled === true;
  const [row] = await c
    .get("services")
    .db.update(schedules)
    .set({ ...body, ...(restart ? { lastTick: sql`max(coalesce(${schedules.lastTick}, 0), ${Date.now()})` } : {}) })
    .where(eq(schedules.id, c.req.param("id")))
    .returning();
  if (!row) throw notFound(`schedule ${c.req.param("id")}`);
  return c.json(scheduleView(row));
});

scheduleRoutes.delete("/:id", requireRole("member"), async (c) => {
  const deleted = await c
    .get("services")
    .db.delete(schedules)
    .where(eq(schedules.id, c.req.param("id")))
    .returning({ id: schedules.id });
  if (deleted.length === 0) throw notFound(`schedule ${c.req.param("id")}`);
  return c.json({ id: c.req.param("id"), deleted: true });
});
