import { Hono } from "hono";
import { listDuties } from "../cluster/duties.ts";
import { listNodes } from "../cluster/nodes.ts";
import { requireRole } from "./auth.ts";
import type { AppEnv } from "./env.ts";

/** The nodes sharing this database and who holds each duty: read from the database, so alike on every node. */
export const clusterRoutes = new Hono<AppEnv>();
clusterRoutes.get("/", requireRole("viewer"), async (c) => {
  const { db, cluster } = c.get("services");
  const [nodes, duties] = await Promise.all([listNodes(db), listDuties(db)]);
  const now = Date.now();
  return c.json({
    self: cluster.id,
    nodes: nodes.map((n) => ({ ...n, alive: cluster.alive(n, now) })),
    duties: duties.map((d) => ({ ...d, holder: d.expiresAt > now && d.holder ? d.holder : null })),
  });
});
