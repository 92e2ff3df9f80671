import { z } from "zod";

/**
 * Prefetch: while an agent uploads a workspace archive that a downstream task restores, the coordinator
 * may ask one other agent, eligible for that task, to follow the upload and keep the files it holds
 * (docs/protocol.md, "Prefetched workspaces"). The hint names a grant, good for that object and that
 * agent only; the agent reads the archive as it is written with GET `prefetchPath(grant)` (its own
 * credential, as any archive request), and the answer's body ends cleanly only once the coordinator has
 * stored and recorded the whole upload. Only agents whose hello says `prefetch` get hints.
 */
export const prefetchSchema = z.object({
  type: z.literal("prefetch"),
  grant: z.string().min(1).max(64),
  /** the object being uploaded: a restore that lists it takes the copy */
  object: z.string().min(1).max(1024),
});
export type PrefetchHint = z.infer<typeof prefetchSchema>;

/** Where the agent given `grant` reads the upload as it is written. */
export const prefetchPath = (grant: string) => `/agent/v1/prefetches/${encodeURIComponent(grant)}`;
