import { eq } from "drizzle-orm";
import { Hono } from "hono";
import { onAgentsNode } from "../cluster/agent-forward.ts";
import { agents } from "../db/schema.ts";
import { listAgents } from "../fleet/agent-list.ts";
import { requireRole } from "./auth.ts";
import { DroverError } from "../../shared/errors.ts";
import type { AppEnv } from "./env.ts";
import { notFound } from "./errors.ts";

export const agentRoutes = new Hono<AppEnv>();

agentRoutes.get("/", requireRole("viewer"), async (c) => {
  const { db, fleet } = c.get("services");
  return c.json({ agents: await listAgents(db, fleet) });
});

/** Drains an agent remotely, as SIGTERM does locally: no new attempts, running ones finish, then it leaves. */
agentRoutes.post("/:id/drain", requireRole("admin"), onAgentsNode, async (c) => {
  const { fleet } = c.get("services");
  const agent = fleet.agents.get(c.req.param("id"));
  if (!agent?.socket) throw new DroverError("conflict", `agent ${c.req.param("id")} is not connected`);
  await fleet.drain(agent);
  agent.socket.send({ type: "drain" });
  return c.json({ id: agent.row.id, state: "draining" }, 202);
});

/** Removes a static agent's record; one that still holds a lease must be drained first. */
agentRoutes.delete("/:id", requireRole("admin"), onAgentsNode, async (c) => {
  const { db, fleet } = c.get("services");
  const id = c.req.param("id");
  if (fleet.agents.has(id)) throw new DroverError("conflict", `agent ${id} is online: drain it first`);
  const deleted = await db.delete(agents).where(eq(agents.id, id)).returning({ id: agents.id });
  if (deleted.length === 0) throw notFound(`agent ${id}`);
  fleet.known.delete(id);
  return c.json({ id, deleted: true });
});

for (const [verb, paused] of [["pause", true], ["resume", false]] as const) {
  agentRoutes.post(`/:id/${verb}`, requireRole("admin"), onAgentsNode, async (c) => {
    const { fleet, dispatcher } = c.get("services");
    const id = c.req.param("id");
    if (!(await fleet.setPaused(id, paused))) throw notFound(`agent ${id}`);
    // a resumed agent's free slots may take what waits now
    if (!paused) dispatcher.pump();
    return c.json({ id, paused });
  });
}
