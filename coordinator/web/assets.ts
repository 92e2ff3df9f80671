import { Hono } from "hono";
import agents from "./browser/agents.mjs" with { type: "text" };
import ansi from "./browser/ansi.mjs" with { type: "text" };
import app from "./browser/app.mjs" with { type: "text" };
import common from "./browser/common.mjs" with { type: "text" };
import log from "./browser/log.mjs" with { type: "text" };
import logLines from "./browser/log-lines.mjs" with { type: "text" };
import logTimes from "./browser/log-times.mjs" with { type: "text" };
import run from "./browser/run.mjs" with { type: "text" };
import css from "./style.css" with { type: "text" };

const JS = "text/javascript; charset=utf-8";
const ASSETS: Record<string, { body: string; type: string; etag: string }> = {};
const add = (name: string, body: string, type: string) => {
  ASSETS[name] = { body, type, etag: `"${Bun.hash(body).toString(36)}"` };
};
add("style.css", css, "text/css; charset=utf-8");
for (const [name, body] of Object.entries({ "app.mjs": app, "common.mjs": common, "run.mjs": run, "log.mjs": log, "log-lines.mjs": logLines, "log-times.mjs": logTimes, "ansi.mjs": ansi, "agents.mjs": agents })) add(name, body, JS);

/** The stylesheet and the client script (app.mjs, which imports the other modules by relative URL). */
export const assetRoutes = new Hono();
assetRoutes.get("/ui/:name", (c) => {
  const asset = ASSETS[c.req.param("name")];
  if (!asset) return c.notFound();
  // modules import each other by plain URLs, so nothing can be cached for good: revalidate by ETag
  const headers = { "content-type": asset.type, "cache-control": "no-cache", etag: asset.etag };
  if (c.req.header("if-none-match") === asset.etag) return c.body(null, 304, headers);
  return c.body(asset.body, 200, headers);
});
