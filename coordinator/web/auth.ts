import { timingSafeEqual } from "node:crypto";
import { and, eq, isNull } from "drizzle-orm";
import type { Context, MiddlewareHandler } from "hono";
import { getCookie } from "hono/cookie";
import { tokens } from "../db/schema.ts";
import { tokenHash } from "../api/auth.ts";
import type { AppEnv, Principal, Services, UserRole } from "../api/env.ts";

export const COOKIE = "drover_token";

/** What UI routes see: who is logged in, and the bearer token the page hands to its client script. */
export interface WebEnv {
  Variables: AppEnv["Variables"] & { token: string };
}

const same = (a: string, b: string) => {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
};

/**
 * A user's principal for a token, resolved as the API's `authenticate()` does for users
 * (the admin token, then the hashed API tokens). Agent tokens are not accepted: the UI is for people.
 */
export async function userForToken(services: Services, token: string): Promise<Principal | undefined> {
  if (!token) return undefined;
  if (same(token, services.adminToken)) return { role: "admin", user: "admin" };
  const [row] = await services.db
    .select()
    .from(tokens)
    .where(and(eq(tokens.hash, tokenHash(token)), isNull(tokens.revokedAt)));
  return row ? { role: row.role as UserRole, user: row.user } : undefined;
}

const RANK: Record<string, number> = { viewer: 1, member: 2, admin: 3 };
export const atLeast = (p: Principal, role: UserRole) => (RANK[p.role] ?? 0) >= RANK[role]!;

/** Only same-site paths, so `next` cannot send a user elsewhere after login. */
export const safeNext = (next: string | undefined) => (next?.startsWith("/") && !next.startsWith("//") ? next : "/");

/** Reads the login cookie; without a valid one, the browser goes to /login and comes back after. */
export function webAuth(): MiddlewareHandler<WebEnv> {
  return async (c: Context<WebEnv>, next) => {
    const token = getCookie(c, COOKIE) ?? "";
    const principal = await userForToken(c.get("services"), token);
    if (!principal) {
      const url = new URL(c.req.url);
      return c.redirect(`/login?next=${encodeURIComponent(url.pathname + url.search)}`, 303);
    }
    c.set("principal", principal);
    c.set("token", token);
    // pages carry the token for the client script: never store them in a shared cache
    c.header("cache-control", "no-store");
    await next();
  };
}
