import { z } from "@hono/zod-openapi";
import { type Registry, endpoints, json } from "./common.ts";
import { ms } from "./run-schemas.ts";

const ClusterNode = z
  .object({
    id: z.string().openapi({ description: "the node's id, new at every start" }),
    url: z.string().openapi({ description: "where it is reached (DROVER_NODE_URL / --advertise-url)" }),
    startedAt: ms,
    lastSeenAt: ms,
    agents: z.number().int().openapi({ description: "agents connected to it at its last heartbeat" }),
    draining: z.boolean().openapi({ description: "stopping: its agents are moving to other nodes" }),
    alive: z.boolean().openapi({ description: "heartbeated within the last three beats" }),
  })
  .openapi("ClusterNode");

const DutyLease = z
  .object({
    name: z.enum(["cron", "polling", "gc"]).openapi({ description: "cron ticks, repository polling, GC with retention" }),
    holder: z.string().nullable().openapi({ description: "the id of the node holding it; null while nobody does" }),
    epoch: z.number().int().openapi({ description: "goes up at every change of holder" }),
    expiresAt: ms,
  })
  .openapi("DutyLease");

const ClusterView = z
  .object({
    self: z.string().openapi({ description: "the id of the node that answered" }),
    nodes: z.array(ClusterNode).openapi({ description: "oldest first; a node unseen for 10 minutes is forgotten" }),
    duties: z.array(DutyLease),
  })
  .openapi("Cluster");

export function registerClusterPaths(registry: Registry) {
  endpoints(
    registry,
    "cluster",
  )({
    method: "get",
    path: "/api/v1/cluster",
    role: "viewer",
    summary: "The coordinators sharing this database and which holds each duty",
    description: "Read from the database: every node answers alike.",
    responses: { 200: json(ClusterView, "nodes and duty leases") },
  });
}
