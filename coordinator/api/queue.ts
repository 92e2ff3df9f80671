import { Hono } from "hono";
import { queueDepth } from "../dispatch/queue-depth.ts";
import { requireRole } from "./auth.ts";
import type { AppEnv } from "./env.ts";

/** The queue's depth by group, arch and labels, with the oldest attempt's age: what an autoscaler sizes pools by. */
export const queueRoutes = new Hono<AppEnv>().get("/", requireRole("viewer"), (c) => {
  const { dispatcher } = c.get("services");
  const pools = queueDepth(dispatcher.waiting());
  return c.json({ queued: pools.reduce((sum, pool) => sum + pool.queued, 0), pools });
});
