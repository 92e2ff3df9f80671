import { existsSync } from "node:fs";
import { join } from "node:path";
import { Hono } from "hono";
import installTemplate from "../../scripts/install.sh" with { type: "text" };
import type { AppEnv } from "./env.ts";


const BINARY_NAME = /^drover-agent-linux-(amd64|arm64)(-musl)?(\.sha256)?$/;

/** Public routes: agent binaries built by scripts/build-agent, and the install script that fetches them. */
export function downloadRoutes(distDir: string, publicUrl: string | undefined) {
  const routes = new Hono<AppEnv>();
  routes.get("/install.sh", async (c) => {
    const base = publicUrl ?? new URL(c.req.url).origin;
    const script = installTemplate.replace("__DROVER_COORDINATOR__", base);
    return c.body(script, 200, { "content-type": "text/x-shellscript; charset=utf-8" });
  });
  routes.get("/download/:name", (c) => {
    const name = c.req.param("name");
    const path = join(distDir, name);
    if (!BINARY_NAME.test(name) || !existsSync(path)) {
      return c.json({ error: { code: "not_found", message: `${name} is not built here (run ./scripts/build-agent)` } }, 404);
    }
    return c.body(Bun.file(path).stream(), 200, {
      "content-type": name.endsWith(".sha256") ? "text/plain" : "application/octet-stream",
      "content-length": String(Bun.file(path).size),
    });
  });
  return routes;
}
