import { eq } from "drizzle-orm";
import { Hono } from "hono";
import { runs } from "../db/schema.ts";
import { runCases } from "../tests/store.ts";
import { requireRole } from "./auth.ts";
import type { AppEnv } from "./env.ts";
import { notFound } from "./errors.ts";

/** The test cases a run's `test_results` steps stored, failed first. */
export const testRoutes = new Hono<AppEnv>().get("/:id/tests", requireRole("viewer"), async (c) => {
  const { db } = c.get("services");
  const id = c.req.param("id");
  const [run] = await db.select({ id: runs.id }).from(runs).where(eq(runs.id, id));
  if (!run) throw notFound(`run ${id}`);
  return c.json(await runCases(db, id));
});
