import { Hono } from "hono";
import { z } from "zod";
import { deliveryView, listDeliveries } from "../forges/deliveries.ts";
import { receiveDelivery } from "../forges/receive.ts";
import type { ProjectRow } from "../projects/projects.ts";
import { requireRole } from "./auth.ts";
import type { AppEnv } from "./env.ts";
import type { Services } from "../services.ts";
import { notFound } from "./errors.ts";
import { parseQuery } from "./validate.ts";

async function projectNamed(services: Services, name: string): Promise<ProjectRow> {
  const project = await services.projects.get(name);
  if (!project) throw notFound(`project ${name}`);
  return project;
}

/**
 * The forge's receiver: forges hold the project's webhook secret, not a bearer token, so this is mounted
 * ahead of the token middleware and the delivery's signature (GitLab: its token) authenticates it.
 */
export const projectHookRoutes = new Hono<AppEnv>();

projectHookRoutes.post("/:name/hook", async (c) => {
  const services = c.get("services");
  const project = await projectNamed(services, c.req.param("name"));
  const { status, delivery } = await receiveDelivery(services, project, c.req.raw);
  return c.json(delivery, status);
});

const DeliveriesQuery = z.object({ limit: z.coerce.number().int().min(1).max(500).default(50) });

export const deliveryRoutes = new Hono<AppEnv>();

deliveryRoutes.get("/:name/deliveries", requireRole("viewer"), async (c) => {
  const services = c.get("services");
  const project = await projectNamed(services, c.req.param("name"));
  const { limit } = parseQuery(c, DeliveriesQuery);
  const rows = await listDeliveries(services.db, project.id, limit);
  return c.json({ deliveries: rows.map(deliveryView) });
});
