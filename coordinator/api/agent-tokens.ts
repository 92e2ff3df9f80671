import { randomBytes } from "node:crypto";
import { and, asc, eq, isNull } from "drizzle-orm";
import { Hono } from "hono";
import { newId } from "../../shared/ids.ts";
import type { Db } from "../db/open.ts";
import { agentTokens } from "../db/schema.ts";
import { tokenHash } from "../secrets/digests.ts";
import { requireRole } from "./auth.ts";
import type { AppEnv } from "./env.ts";
import { notFound } from "./errors.ts";
import { parseBody } from "./validate.ts";
import { CreateAgentToken } from "./openapi/requests.ts";

/** The executor group a registration token is limited to, or undefined if it is not one. */
export async function agentTokenGroup(db: Db, token: string): Promise<string | undefined> {
  const [row] = await db
    .select({ group: agentTokens.group })
    .from(agentTokens)
    .where(and(eq(agentTokens.hash, tokenHash(token)), isNull(agentTokens.revokedAt)));
  return row?.group;
}

export const agentTokenRoutes = new Hono<AppEnv>();

agentTokenRoutes.post("/", requireRole("admin"), async (c) => {
  const { group } = await parseBody(c, CreateAgentToken);
  const token = `drv_reg_${randomBytes(24).toString("base64url")}`;
  const row = { id: newId(), hash: tokenHash(token), group, createdAt: Date.now(), revokedAt: null };
  await c.get("services").db.insert(agentTokens).values(row);
  return c.json({ id: row.id, group, token, createdAt: row.createdAt }, 201);
});

agentTokenRoutes.get("/", requireRole("admin"), async (c) => {
  const rows = await c.get("services").db.select().from(agentTokens).orderBy(asc(agentTokens.createdAt));
  return c.json({ tokens: rows.map(({ hash: _hash, ...r }) => r) });
});

agentTokenRoutes.delete("/:id", requireRole("admin"), async (c) => {
  const revoked = await c
    .get("services")
    .db.update(agentTokens)
    .set({ revokedAt: Date.now() })
    .where(and(eq(agentTokens.id, c.req.param("id")), isNull(agentTokens.revokedAt)))
    .returning({ id: agentTokens.id });
  if (revoked.length === 0) throw notFound(`agent token ${c.req.param("id")}`);
  return c.json({ id: c.req.param("id"), revoked: true });
});
