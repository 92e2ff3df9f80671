import type { MiddlewareHandler } from "hono";
import { getCookie } from "hono/cookie";
import { DroverError } from "../../shared/errors.ts";
import { agentByCredential } from "../fleet/registration.ts";
import { hasRole, type Principal, type Role, userForToken } from "../auth/principal.ts";
import { fromThisOrigin, SESSION_COOKIE } from "../auth/session.ts";
import { sameSecret } from "../secrets/digests.ts";
import type { AppEnv } from "./env.ts";

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
    c.set("credential", token);
    await next();
  };
}

export function requireRole(min: Role): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const { role } = c.get("principal");
    const allowed = hasRole(role, min);
    if (!allowed) throw new DroverError("forbidden", `this needs the ${min} role; the token has ${role}`);
    await next();
  };
}
