import { asc } from "drizzle-orm";
import { Hono } from "hono";
import { agents } from "../db/schema.ts";
import { requireRole } from "./auth.ts";
import type { AppEnv } from "./env.ts";

export const agentRoutes = new Hono<AppEnv>();

agentRoutes.get("/", requireRole("viewer"), async (c) => {
  const { db, fleet } = c.get("services");
  const rows = await db.select().from(agents).orderBy(asc(agents.name));
  return c.json({
    agents: rows.map(({ credentialHash: _hidden, ...row }) => {
      const online = fleet.agents.get(row.id);
      return { ...row, running: online ? [...online.running] : [], connected: !!online?.socket };
    }),
  });
});
