import { Hono } from "hono";
import { listAttempts } from "../history/attempts.ts";
import { attemptStats, STATS_SAMPLE } from "../history/stats.ts";
import { requireRole } from "./auth.ts";
import type { AppEnv } from "./env.ts";
import { parseQuery } from "./validate.ts";
import { AttemptStatsQuery, ListAttemptsQuery } from "./openapi/requests.ts";

/** Attempt history across runs (Reflow's taskdb): by run, task name, command digest, agent, state and readyAt window. */
export const attemptRoutes = new Hono<AppEnv>();

attemptRoutes.get("/", requireRole("viewer"), async (c) => {
  const attempts = await listAttempts(c.get("services").db, parseQuery(c, ListAttemptsQuery));
  return c.json({ attempts });
});

attemptRoutes.get("/stats", requireRole("viewer"), async (c) => {
  const stats = await attemptStats(c.get("services").db, parseQuery(c, AttemptStatsQuery));
  return c.json({ sample: STATS_SAMPLE, stats });
});
