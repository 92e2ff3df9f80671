import { Hono } from "hono";
import { pipelineJsonSchema } from "../../shared/pipeline/json-schema.ts";
import type { AppEnv } from "./env.ts";

/** Public: editors fetch it through a `# yaml-language-server: $schema=…/schema/drover.json` line. */
export const pipelineSchemaRoute = new Hono<AppEnv>().get("/schema/drover.json", (c) =>
  c.json(pipelineJsonSchema, 200, { "content-type": "application/schema+json", "cache-control": "max-age=300" }),
);
