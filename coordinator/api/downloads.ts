import { join } from "node:path";
import { Hono } from "hono";
import installCliTemplate from "../../scripts/install-cli.sh" with { type: "text" };
import installLib from "../../scripts/install-lib.sh" with { type: "text" };
import installTemplate from "../../scripts/install.sh" with { type: "text" };
import { DroverError } from "../../shared/errors.ts";
import type { AppEnv } from "./env.ts";

const BINARY_NAME = /^drover(-agent)?-linux-(amd64|arm64)(-musl)?(\.sha256)?$/;
const SCRIPTS: Record<string, string> = { "/install.sh": installTemplate, "/install-cli.sh": installCliTemplate };

/**
 * Public routes: the agent binaries (scripts/build-agent) and the drover command (scripts/build-cli),
 * and the install scripts that fetch them.
 */
export function downloadRoutes(distDir: string, publicUrl: string | undefined) {
  const routes = new Hono<AppEnv>();
  for (const [path, template] of Object.entries(SCRIPTS)) {
    routes.get(path, (c) => {
      const base = publicUrl ?? new URL(c.req.url).origin;
      const script = template.replace("__DROVER_LIB__", installLib).replace("__DROVER_COORDINATOR__", base);
      return c.body(script, 200, { "content-type": "text/x-shellscript; charset=utf-8" });
    });
  }
  routes.get("/download/:name", async (c) => {
    const name = c.req.param("name");
    // looked up only by a name it may be: a NUL or an overlong name fails the file system's call itself
    if (!BINARY_NAME.test(name)) {
      throw new DroverError(
        "not_found",
        "no such download: drover-linux-<arch> and drover-agent-linux-<arch> (amd64 or arm64, -musl too) and their .sha256",
      );
    }
    const file = Bun.file(join(distDir, name));
    if (!(await file.exists())) {
      const builder = name.startsWith("drover-agent") ? "./scripts/build-agent" : "./scripts/build-cli";
      throw new DroverError("not_found", `${name} is not built here (run ${builder})`);
    }
    return c.body(file.stream(), 200, {
      "content-type": name.endsWith(".sha256") ? "text/plain" : "application/octet-stream",
      "content-length": String(file.size),
    });
  });
  return routes;
}
