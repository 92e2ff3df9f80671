import type { Context, MiddlewareHandler } from "hono";
import { getCookie } from "hono/cookie";
import { html } from "hono/html";
import { hasRole, type Principal, type UserRole, userForToken } from "../auth/principal.ts";
import { SESSION_COOKIE } from "../auth/session.ts";
import type { Services } from "../services.ts";

export const COOKIE = SESSION_COOKIE;

/** What UI routes see: the services, who is logged in, and their token (for the page's own API requests). */
export interface WebEnv {
  Variables: { principal: Principal; services: Services; token: string };
}

export const atLeast = (p: Principal, role: UserRole) => hasRole(p.role, role);

/** Only same-site paths, so `next` cannot send a user elsewhere after login. */
export function safeNext(next: string | undefined): string {
  if (!next?.startsWith("/")) return "/";
  // parsed as a browser would: `/\evil.example` and `//evil.example` both leave the site
  const base = "http://drover.invalid";
  const url = URL.canParse(next, base) ? new URL(next, base) : null;
  return url?.origin === base ? url.pathname + url.search + url.hash : "/";
}

/**
 * A 303 to `location` whose body is the short note with a link that RFC 9110 suggests for it: a browser
 * follows the redirect, and a client that does not (curl without -L) still gets a page that says where to go.
 */
export const seeOther = (c: Context, location: string) =>
  c.html(
    html`<!doctype html><html><head><title>See other</title></head><body><a href="${location}">Continue to ${location}</a></body></html>`,
    303,
    { location },
  );

/** Reads the login cookie (a person's token: agent tokens are not accepted); without a valid one, the browser goes to /login and comes back after. */
export function webAuth(): MiddlewareHandler<WebEnv> {
  return async (c: Context<WebEnv>, next) => {
    const token = getCookie(c, COOKIE) ?? "";
    const principal = await userForToken(c.get("services"), token);
    if (!principal) {
      const url = new URL(c.req.url);
      return seeOther(c, `/login?next=${encodeURIComponent(url.pathname + url.search)}`);
    }
    c.set("principal", principal);
    c.set("token", token);
    // pages carry the token for the client script: never store them in a shared cache
    c.header("cache-control", "no-store");
    await next();
  };
}
