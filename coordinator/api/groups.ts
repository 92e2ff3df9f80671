import { asc } from "drizzle-orm";
import { Hono } from "hono";
import { z } from "zod";
import { runGroups } from "../db/schema.ts";
import { requireRole } from "./auth.ts";
import type { AppEnv } from "./env.ts";
import { parseBody } from "./validate.ts";

const settingsSchema = z.object({ concurrency: z.number().int().min(1).nullable() });

export const groupRoutes = new Hono<AppEnv>();

groupRoutes.get("/", requireRole("viewer"), async (c) => {
  return c.json({ groups: await c.get("services").db.select().from(runGroups).orderBy(asc(runGroups.name)) });
});

/** Sets a run group's concurrency limit (null: unlimited); queued runs start at once if room opened up. */
groupRoutes.put("/:name", requireRole("admin"), async (c) => {
  const { concurrency } = await parseBody(c, settingsSchema);
  const name = c.req.param("name");
  const { db, scheduler } = c.get("services");
  await scheduler.serial.run(async () => {
    await db.insert(runGroups).values({ name, concurrency }).onConflictDoUpdate({ target: runGroups.name, set: { concurrency } });
    if (concurrency === null) scheduler.groupLimits.delete(name);
    else scheduler.groupLimits.set(name, concurrency);
    await scheduler.startNextInGroup(name);
  });
  return c.json({ name, concurrency });
});
