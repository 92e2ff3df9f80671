import { Hono } from "hono";
import { DroverError } from "../../shared/errors.ts";
import { agentMatches } from "../dispatch/placement.ts";
import { prefetchAgent, restoringTask } from "../dispatch/prefetch-target.ts";
import type { FollowedUpload } from "../fleet/followed-upload.ts";
import type { Services } from "../services.ts";
import { followedStream } from "../store/uncached-stream.ts";
import type { OwnAttempt } from "./archive-targets.ts";
import type { AppEnv } from "./env.ts";

/**
 * Asks the agent that the task restoring this workspace would most likely run on to follow its upload
 * (docs/protocol.md, "Prefetched workspaces"). Only a posix store writes a file here to follow; on S3 the
 * restore downloads as usual.
 */
export function offerPrefetch(services: Services, found: OwnAttempt, object: string): FollowedUpload | null {
  if (services.store.kind !== "posix") return null;
  const downstream = restoringTask(found.active, found.task);
  if (!downstream) return null;
  const { fleet } = services;
  const agent = prefetchAgent(fleet.agents.values(), downstream, found.attempt.agentId!, (a) => fleet.prefetches.hasRoom(a));
  return agent ? fleet.prefetches.grant(agent, object, found.attempt.id, (a) => agentMatches(a.row, downstream.spec)) : null;
}

export const agentPrefetchRoutes = new Hono<AppEnv>();

/** The upload a grant names, as it is written; the body ends cleanly only once it is stored and recorded. */
agentPrefetchRoutes.get("/prefetches/:grant", (c) => {
  const agentId = c.get("principal").agentId;
  if (!agentId) throw new DroverError("forbidden", "only agents follow prefetches");
  const { fleet } = c.get("services");
  const { upload, fd } = fleet.prefetches.follow(c.req.param("grant"), agentId, fleet.agents.get(agentId));
  return c.body(followedStream(fd, upload), 200, { "content-type": "application/zstd" });
});
