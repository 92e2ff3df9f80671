import type { Context } from "hono";

/** The web UI's login cookie (HttpOnly, SameSite=Strict): pages' scripts call the API with it, never holding the token. */
export const SESSION_COOKIE = "drover_token";

/** A request a page of this very origin made (a browser says so in Sec-Fetch-Site, or at least in Origin). */
export const fromThisOrigin = (c: Context) =>
  c.req.header("sec-fetch-site") === "same-origin" || c.req.header("origin") === new URL(c.req.url).origin;
