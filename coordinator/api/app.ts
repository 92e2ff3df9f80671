import { Hono } from "hono";
import { agentArchiveRoutes } from "./agent-archives.ts";
import { agentProtocol } from "./agent-protocol.ts";
import { agentTestReportRoutes } from "./agent-test-reports.ts";
import { agentTokenRoutes } from "./agent-tokens.ts";
import { agentRoutes } from "./agents.ts";
import { attemptRoutes } from "./attempts.ts";
import { clusterRoutes } from "./cluster.ts";
import { authenticate, requireRole } from "./auth.ts";
import type { AppEnv } from "./env.ts";
import type { Services } from "../services.ts";
import type { Retention } from "../gc/retention.ts";
import { artifactRoutes } from "./artifacts.ts";
import { deliveryRoutes, projectHookRoutes } from "./deliveries.ts";
import { downloadRoutes } from "./downloads.ts";
import { gcRoutes, metricsRoute } from "./gc.ts";
import { errorResponse } from "./errors.ts";
import { globalEventRoutes, runEventRoutes } from "./events.ts";
import { groupRoutes } from "./groups.ts";
import { hookReceiverRoutes, hookRoutes } from "./hooks.ts";
import { logRoutes } from "./logs.ts";
import { openApiRoutes } from "./openapi/document.ts";
import { pipelineSchemaRoute } from "./pipeline-schema.ts";
import { projectRoutes } from "./projects.ts";
import { queueRoutes } from "./queue.ts";
import { runActionRoutes } from "./run-actions.ts";
import { runLogRoutes } from "./run-log.ts";
import { runRoutes } from "./runs.ts";
import { scheduleRoutes } from "./schedules.ts";
import { testRoutes } from "./tests.ts";
import { tokenRoutes } from "./tokens.ts";
import { webRoutes } from "../web/routes.tsx";

export function createApp(
  services: Services,
  options: { distDir: string; publicUrl?: string; retention: Retention },
): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  app.onError((err, c) => errorResponse(c, err));
  app.notFound((c) => c.json({ error: { code: "not_found", message: `no route for ${c.req.method} ${c.req.path}` } }, 404));
  app.use("*", async (c, next) => {
    c.set("services", services);
    await next();
  });
  app.get("/healthz", (c) => c.json({ ok: true }));
  app.route("/", downloadRoutes(options.distDir, options.publicUrl));
  app.route("/", metricsRoute);
  app.route("/", pipelineSchemaRoute);
  app.route("/api/v1/hooks", hookReceiverRoutes);
  app.route("/api/v1/projects", projectHookRoutes);
  app.route("/api/v1", openApiRoutes);
  app.route("/", webRoutes((request) => app.fetch(request)));
  app.use("/api/*", authenticate());
  app.use("/agent/v1/*", authenticate(), requireRole("agent"), agentProtocol());
  app.route("/api/v1/runs", runRoutes);
  app.route("/api/v1/runs", logRoutes);
  app.route("/api/v1/runs", runLogRoutes);
  app.route("/api/v1/runs", runActionRoutes);
  app.route("/api/v1/runs", runEventRoutes);
  app.route("/api/v1/events", globalEventRoutes);
  app.route("/api/v1/tokens", tokenRoutes);
  app.route("/api/v1/cluster", clusterRoutes);
  app.route("/api/v1/agent-tokens", agentTokenRoutes);
  app.route("/api/v1/groups", groupRoutes);
  app.route("/api/v1/runs", artifactRoutes);
  app.route("/api/v1/runs", testRoutes);
  app.route("/api/v1/gc", gcRoutes(options.retention));
  app.route("/api/v1/agents", agentRoutes);
  app.route("/api/v1/queue", queueRoutes);
  app.route("/api/v1/attempts", attemptRoutes);
  app.route("/api/v1/schedules", scheduleRoutes);
  app.route("/api/v1/hooks", hookRoutes);
  app.route("/api/v1/projects", projectRoutes(options.publicUrl));
  app.route("/api/v1/projects", deliveryRoutes);
  app.route("/agent/v1", agentArchiveRoutes);
  app.route("/agent/v1", agentTestReportRoutes);
  return app;
}
