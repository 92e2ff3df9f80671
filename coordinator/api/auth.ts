import { and, eq, isNull } from "drizzle-orm";
import type { Context, MiddlewareHandler } from "hono";
import { getCookie } from "hono/cookie";
import { DroverError } from "../../shared/errors.ts";
import { tokens } from "../db/schema.ts";
import { agentByCredential } from "../fleet/registration.ts";
import { sameSecret, tokenHash } from "../secrets/digests.ts";
import type { AppEnv, Principal, Role, Services, UserRole } from "./env.ts";

/** A person's principal for a token: the admin token, or an API token that is not revoked. */
export async function userForToken(services: Services, token: string): Promise<Principal | undefined> {
  if (!token) return undefined;
  if (sameSecret(token, services.adminToken)) return { role: "admin", user: "admin" };
  const [row] = await services.db
    .select()
    .from(tokens)
    .where(and(eq(tokens.hash, tokenHash(token)), isNull(tokens.revokedAt)));
  return row ? { role: row.role as UserRole, user: row.user } : undefined;
}

/** The web UI's login cookie (HttpOnly, SameSite=Strict): pages' scripts call the API with it, never holding the token. */
export const SESSION_COOKIE = "drover_token";

/** A request a page of this very origin made (a browser says so in Sec-Fetch-Site, or at least in Origin). */
export const fromThisOrigin = (c: Context) =>
  c.req.header("sec-fetch-site") === "same-origin" || c.req.header("origin") === new URL(c.req.url).origin;

/**
 * Bearer tokens: the admin token from the environment, API tokens created through
 * the API (stored hashed), the fleet registration token, or an agent's own
 * credential (with `X-Drover-Agent: <id>`), which limits it to that agent's attempts. Without one, the
 * login cookie of a request from this origin's own pages.
 */
export function authenticate(): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const header = c.req.header("authorization") ?? "";
    const cookie = fromThisOrigin(c) ? getCookie(c, SESSION_COOKIE) : undefined;
    const token = header.startsWith("Bearer ") ? header.slice(7).trim() : (c.req.query("access_token") ?? cookie ?? "");
    if (!token) throw new DroverError("unauthorized", "missing bearer token");
    const services = c.get("services");
    const agentId = c.req.header("x-drover-agent");
    let principal: Principal | undefined;
    if (agentId && (await agentByCredential(services.db, agentId, token))) {
      principal = { role: "agent", user: `agent:${agentId}`, agentId };
    } else if (sameSecret(token, services.agentToken)) {
      principal = { role: "agent", user: "agent" };
    } else {
      principal = await userForToken(services, token);
    }
    if (!principal) throw new DroverError("unauthorized", "invalid bearer token");
    c.set("principal", principal);
    await next();
  };
}

const RANK: Record<Role, number> = { agent: 0, viewer: 1, member: 2, admin: 3 };

/** Users need at least `min`; agents only get through routes made for them. */
export const hasRole = (role: Role, min: Role) => (min === "agent" ? role === "agent" : role !== "agent" && RANK[role] >= RANK[min]);

export function requireRole(min: Role): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const { role } = c.get("principal");
    const allowed = hasRole(role, min);
    if (!allowed) throw new DroverError("forbidden", `this needs the ${min} role; the token has ${role}`);
    await next();
  };
}
