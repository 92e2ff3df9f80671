import { Hono } from "hono";
import { DroverError } from "../../shared/errors.ts";
import type { AppEnv } from "./env.ts";
import { notFound } from "./errors.ts";

/** HTTP side of the agent protocol: archives move here, scoped to the agent's own running attempts. */
export const agentFileRoutes = new Hono<AppEnv>();

agentFileRoutes.get("/attempts/:attempt/workspace", async (c) => {
  const { scheduler, store } = c.get("services");
  const principal = c.get("principal");
  const found = scheduler.attempt(c.req.param("attempt"));
  if (!principal.agentId || found?.attempt.agentId !== principal.agentId) {
    throw new DroverError("forbidden", "this attempt is not running on the calling agent");
  }
  const key = found.active.run.workspace;
  const body = key ? await store.get(key) : null;
  if (!body) throw notFound("workspace archive");
  return c.body(body, 200, { "content-type": "application/gzip" });
});
