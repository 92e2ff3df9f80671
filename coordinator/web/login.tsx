/** @jsxImportSource hono/jsx */
import { Hono, type MiddlewareHandler } from "hono";
import { bodyLimit } from "hono/body-limit";
import { deleteCookie, setCookie } from "hono/cookie";
import { DroverError } from "../../shared/errors.ts";
import { fromThisOrigin } from "../auth/session.ts";
import { userForToken } from "../auth/principal.ts";
import { COOKIE, safeNext, seeOther, type WebEnv } from "./auth.ts";
import { Layout } from "./layout.tsx";

const LoginPage = ({ next, error }: { next: string; error?: string }) => (
  <Layout title="Log in" page="login">
    <form class="card login" method="post" action="/login">
      <h1>Log in</h1>
      <p class="muted">
        Use an API token: the admin token <code>drover serve</code> printed, or one made with <code>POST /api/v1/tokens</code>.
      </p>
      {error && <p class="error">{error}</p>}
      <label>
        Token
        <input type="password" name="token" autocomplete="current-password" required autofocus />
      </label>
      <input type="hidden" name="next" value={next} />
      <button type="submit" class="btn primary">
        Log in
      </button>
    </form>
  </Layout>
);

export const loginRoutes = new Hono<WebEnv>();

/** SameSite guards the pages; these two form posts set and clear the cookie, so they must come from here. */
const sameOrigin: MiddlewareHandler<WebEnv> = async (c, next) => {
  if (!fromThisOrigin(c)) return c.text("forms are only accepted from this site's own pages", 403);
  await next();
};

const REFUSED = "That token is not valid (or was revoked).";

loginRoutes.get("/login", (c) =>
  c.html(<LoginPage next={safeNext(c.req.query("next"))} error={c.req.query("error") === "invalid" ? REFUSED : undefined} />),
);

/** A login form holds a token and where to go next: no more than this of it is read. */
const LOGIN_FORM_BYTES = 64 * 1024;
const formLimit = bodyLimit({
  maxSize: LOGIN_FORM_BYTES,
  onError: () => {
    throw new DroverError("too_large", "a login form may be at most 64 KiB");
  },
});

loginRoutes.post("/login", sameOrigin, formLimit, async (c) => {
  const form = await c.req.parseBody();
  const token = typeof form.token === "string" ? form.token.trim() : "";
  const next = safeNext(typeof form.next === "string" ? form.next : undefined);
  // post, redirect, get: the refusal is a page of its own, which a reload shows again without posting the token
  if (!(await userForToken(c.get("services"), token)))
    return seeOther(c, `/login?next=${encodeURIComponent(next)}&error=invalid`);
  // HttpOnly keeps the token from other scripts; SameSite=Strict keeps other sites from using it
  setCookie(c, COOKIE, token, {
    httpOnly: true,
    sameSite: "Strict",
    path: "/",
    secure: new URL(c.req.url).protocol === "https:" || c.req.header("x-forwarded-proto") === "https",
    maxAge: 30 * 86_400,
  });
  return seeOther(c, next);
});

loginRoutes.post("/logout", sameOrigin, (c) => {
  deleteCookie(c, COOKIE, { path: "/" });
  return seeOther(c, "/login");
});
