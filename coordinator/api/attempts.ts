import { Hono } from "hono";
import { z } from "zod";
import { listAttempts, MAX_TIME } from "../history/attempts.ts";
import { attemptStats, STATS_SAMPLE } from "../history/stats.ts";
import { requireRole } from "./auth.ts";
import type { AppEnv } from "./env.ts";
import { parseQuery } from "./validate.ts";

const time = z.coerce.number().int().min(0).max(MAX_TIME).optional();
const limit = z.coerce.number().int().min(1).max(1000).default(100);

const listSchema = z.object({
  run: z.string().optional(),
  name: z.string().optional(),
  digest: z.string().optional(),
  agent: z.string().optional(),
  state: z.string().optional(),
  since: time,
  until: time,
  limit,
});

const statsSchema = z.object({ name: z.string().optional(), since: time, limit });

/** Attempt history across runs (Reflow's taskdb): by run, task name, command digest, agent, state and readyAt window. */
export const attemptRoutes = new Hono<AppEnv>();

attemptRoutes.get("/", requireRole("viewer"), async (c) => {
  const attempts = await listAttempts(c.get("services").db, parseQuery(c, listSchema));
  return c.json({ attempts });
});

attemptRoutes.get("/stats", requireRole("viewer"), async (c) => {
  const stats = await attemptStats(c.get("services").db, parseQuery(c, statsSchema));
  return c.json({ sample: STATS_SAMPLE, stats });
});
