import { eq } from "drizzle-orm";
import type { MiddlewareHandler } from "hono";
import { agents } from "../db/schema.ts";
import { FORWARDED_HEADER } from "./log-forward.ts";
import type { Services } from "../services.ts";

interface ForwardEnv {
  Variables: { services: Services; credential: string };
}

/**
 * An action on an agent (drain, pause, resume, remove) is taken by the node holding the agent's connection:
 * asked of another node, the request is passed to that node, with the caller's own credential, and its answer
 * returned. An agent connected here, or held by no live node, is acted on here.
 */
export const onAgentsNode: MiddlewareHandler<ForwardEnv> = async (c, next) => {
  const services = c.get("services");
  const id = c.req.param("id") ?? "";
  if (services.fleet.agents.get(id)?.socket || c.req.header(FORWARDED_HEADER)) return next();
  const [row] = await services.db.select({ node: agents.nodeId }).from(agents).where(eq(agents.id, id));
  const holder = row?.node && row.node !== services.cluster.id ? (await services.cluster.others()).find((n) => n.id === row.node) : undefined;
  if (!holder) return next();
  const url = new URL(c.req.url);
  const res = await fetch(`${holder.url}${url.pathname}${url.search}`, {
    method: c.req.method,
    headers: { [FORWARDED_HEADER]: services.cluster.id, authorization: `Bearer ${c.get("credential")}` },
    signal: AbortSignal.timeout(10_000),
  });
  return new Response(res.body, { status: res.status, headers: { "content-type": res.headers.get("content-type") ?? "application/json" } });
};
