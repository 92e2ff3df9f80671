import { randomBytes } from "node:crypto";
import { and, asc, eq, isNull } from "drizzle-orm";
import { Hono } from "hono";
import { newId } from "../../shared/ids.ts";
import { tokens } from "../db/schema.ts";
import { tokenHash } from "../secrets/digests.ts";
import { requireRole } from "./auth.ts";
import type { AppEnv } from "./env.ts";
import { notFound } from "./errors.ts";
import { parseBody } from "./validate.ts";
import { CreateToken } from "./openapi/requests.ts";

export const tokenRoutes = new Hono<AppEnv>();

tokenRoutes.post("/", requireRole("admin"), async (c) => {
  const body = await parseBody(c, CreateToken);
  const token = `drv_${randomBytes(24).toString("base64url")}`;
  const row = { id: newId(), hash: tokenHash(token), ...body, createdAt: Date.now(), revokedAt: null };
  await c.get("services").db.insert(tokens).values(row);
  const { hash: _hash, ...shown } = row;
  return c.json({ ...shown, token }, 201);
});

tokenRoutes.get("/", requireRole("admin"), async (c) => {
  const rows = await c.get("services").db.select().from(tokens).orderBy(asc(tokens.createdAt));
  return c.json({ tokens: rows.map(({ hash: _hash, ...r }) => r) });
});

tokenRoutes.delete("/:id", requireRole("admin"), async (c) => {
  const revoked = await c
    .get("services")
    .db.update(tokens)
    .set({ revokedAt: Date.now() })
    .where(and(eq(tokens.id, c.req.param("id")), isNull(tokens.revokedAt)))
    .returning({ id: tokens.id });
  if (revoked.length === 0) throw notFound(`token ${c.req.param("id")}`);
  return c.json({ id: c.req.param("id"), revoked: true });
});

