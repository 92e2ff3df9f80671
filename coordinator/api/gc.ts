import { Hono } from "hono";
import { collectAll } from "../gc/collectors.ts";
import type { Retention } from "../gc/retention.ts";
import { metrics } from "../metrics/registry.ts";
import { requireRole } from "./auth.ts";
import type { AppEnv } from "./env.ts";

/** Runs every collector now (they also run periodically) and says what each removed. */
export function gcRoutes(retention: Retention) {
  const routes = new Hono<AppEnv>();
  routes.post("/", requireRole("admin"), async (c) => {
    const { db, registry, store } = c.get("services");
    return c.json({ removed: await collectAll({ db, registry, store, retention }) });
  });
  return routes;
}

export const metricsRoute = new Hono<AppEnv>();
metricsRoute.get("/metrics", async (c) => c.body(await metrics.metrics(), 200, { "content-type": metrics.contentType }));
