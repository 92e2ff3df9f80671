import { asc } from "drizzle-orm";
import type { Db } from "../db/open.ts";
import { agents } from "../db/schema.ts";
import type { Fleet } from "./fleet.ts";

/** Registered agents by name, each with its connection and running attempts from the live fleet; credentials stay out. */
export async function listAgents(db: Db, fleet: Fleet) {
  const rows = await db.select().from(agents).orderBy(asc(agents.name));
  return rows.map(({ credentialHash: _hidden, ...row }) => {
    const online = fleet.agents.get(row.id);
    return { ...row, running: online ? [...online.running.keys()] : [], connected: !!online?.socket };
  });
}
