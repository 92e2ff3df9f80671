import { OpenAPIHono, z } from "@hono/zod-openapi";
import { Hono } from "hono";
import { AGENT_VERSION } from "../../../shared/protocol/version.ts";
import type { AppEnv } from "../env.ts";
import { registerAdminPaths } from "./admin-paths.ts";
import { registerClusterPaths } from "./cluster-paths.ts";
import { type Registry, binary, endpoints, json } from "./common.ts";
import { registerDeliveryPaths } from "./delivery-paths.ts";
import { registerFleetPaths } from "./fleet-paths.ts";
import { registerUploadPaths } from "./upload-paths.ts";
import { registerProjectPaths } from "./project-paths.ts";
import { registerRunPaths } from "./run-paths.ts";
import { RunEvent } from "./run-schemas.ts";
import { registerTriggerPaths } from "./trigger-paths.ts";

const text = (type: string, description: string) => ({ description, content: { [type]: { schema: z.string() } } });

function registerOpsPaths(registry: Registry) {
  const ops = endpoints(registry, "operations");
  ops({
    method: "get",
    path: "/api/v1/openapi.json",
    role: "public",
    summary: "This document",
    responses: { 200: json(z.record(z.string(), z.unknown()), "OpenAPI 3.1") },
  });
  ops({
    method: "get",
    path: "/healthz",
    role: "public",
    summary: "Liveness",
    responses: { 200: json(z.object({ ok: z.literal(true) }), "up") },
  });
  ops({
    method: "get",
    path: "/metrics",
    role: "public",
    summary: "Prometheus metrics",
    responses: { 200: text("text/plain", "exposition format") },
  });
  ops({
    method: "get",
    path: "/install.sh",
    role: "public",
    summary: "Agent install script for this coordinator",
    responses: { 200: text("text/x-shellscript", "detects the arch, verifies the checksum, installs a systemd unit") },
  });
  ops({
    method: "get",
    path: "/download/{name}",
    role: "public",
    summary: "An agent binary or its sha256",
    params: { name: z.string().regex(/^drover-agent-linux-(amd64|arm64)(-musl)?(\.sha256)?$/) },
    responses: { 200: binary("application/octet-stream", "the binary; text/plain for .sha256") },
  });
}

function buildDocument() {
  // OpenAPIHono serves here as the registry and generator; the handlers stay plain Hono routes.
  const { openAPIRegistry: registry, getOpenAPI31Document } = new OpenAPIHono();
  registry.registerComponent("securitySchemes", "bearer", { type: "http", scheme: "bearer", description: "an API token" });
  registry.registerComponent("securitySchemes", "accessToken", {
    type: "apiKey",
    in: "query",
    name: "access_token",
    description: "the same token, for clients that cannot set headers (EventSource)",
  });
  // Only described in prose by the event streams, so registered by hand to appear among the schemas.
  registry.register("RunEvent", RunEvent);
  for (const register of [registerRunPaths, registerFleetPaths, registerUploadPaths, registerAdminPaths, registerTriggerPaths, registerProjectPaths, registerDeliveryPaths, registerClusterPaths, registerOpsPaths]) {
    register(registry);
  }
  return getOpenAPI31Document({
    openapi: "3.1.0",
    info: {
      title: "Drover",
      version: AGENT_VERSION,
      description: 'Self-hosted CI. Errors are `{"error": {"code", "message", "details"?}}` with a matching status.',
    },
    security: [{ bearer: [] }, { accessToken: [] }],
  });
}

let document: ReturnType<typeof buildDocument> | undefined;

/** Public, mounted ahead of the token check; built on first request, as it never changes while the server runs. */
export const openApiRoutes = new Hono<AppEnv>();
openApiRoutes.get("/openapi.json", (c) => {
  document ??= buildDocument();
  return c.json(document);
});
