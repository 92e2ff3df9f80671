import { join } from "node:path";
import { Hono } from "hono";
import installTemplate from "../../scripts/install.sh" with { type: "text" };
import { DroverError } from "../../shared/errors.ts";
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
  routes.get("/download/:name", async (c) => {
    const name = c.req.param("name");
    const file = Bun.file(join(distDir, name));
    if (!BINARY_NAME.test(name) || !(await file.exists())) {
      throw new DroverError("not_found", `${name} is not built here (run ./scripts/build-agent)`);
    }
    return c.body(file.stream(), 200, {
      "content-type": name.endsWith(".sha256") ? "text/plain" : "application/octet-stream",
      "content-length": String(file.size),
    });
  });
  return routes;
}
