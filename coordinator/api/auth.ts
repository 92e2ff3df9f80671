import { timingSafeEqual } from "node:crypto";
import type { MiddlewareHandler } from "hono";
import { DroverError } from "../../shared/errors.ts";
import { agentByCredential } from "../fleet/registration.ts";
import type { AppEnv, Role } from "./env.ts";

const same = (a: string, b: string) => {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
};

/**
 * Bearer tokens: the admin token, the fleet registration token, or an agent's own
 * credential (with `X-Drover-Agent: <id>`), which limits it to that agent's attempts.
 */
export function authenticate(): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const header = c.req.header("authorization") ?? "";
    const token = header.startsWith("Bearer ") ? header.slice(7).trim() : "";
    if (!token) throw new DroverError("unauthorized", "missing bearer token");
    const { adminToken, agentToken, db } = c.get("services");
    const agentId = c.req.header("x-drover-agent");
    if (same(token, adminToken)) c.set("principal", { role: "admin", user: "admin" });
    else if (agentId && (await agentByCredential(db, agentId, token))) {
      c.set("principal", { role: "agent", user: `agent:${agentId}`, agentId });
    } else if (same(token, agentToken)) c.set("principal", { role: "agent", user: "agent" });
    else throw new DroverError("unauthorized", "invalid bearer token");
    await next();
  };
}

export function requireRole(...roles: Role[]): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const principal = c.get("principal");
    if (!roles.includes(principal.role)) {
      throw new DroverError("forbidden", `this needs the ${roles.join(" or ")} role; the token has ${principal.role}`);
    }
    await next();
  };
}
