import { z } from "zod";

/**
 * The agent's archive HTTP API (/agent/v1/attempts/:attempt/…): workspaces, caches, artifacts and test
 * reports move over HTTP rather than the WebSocket. Its answers are typed here once, for the agent that
 * parses them and the coordinator that sends them; every request carries the protocol version in this
 * header, checked as the WebSocket's hello is.
 */
export const PROTOCOL_HEADER = "x-drover-protocol";

export const storedSchema = z.object({ object: z.string(), size: z.number(), sha256: z.string() });
export const cacheSchema = z.object({ key: z.string(), object: z.string(), size: z.number() });
export const workspacesSchema = z.object({
  archives: z.array(z.object({ task: z.string(), object: z.string(), size: z.number() })),
});
export const cacheStoredSchema = z.object({ stored: z.boolean() });
export const artifactSchema = z.object({ path: z.string(), size: z.number(), sha256: z.string() });
export const testReportSchema = z.object({ cases: z.number(), failed: z.number(), skipped: z.number() });

export type Stored = z.infer<typeof storedSchema>;
export type CacheEntry = z.infer<typeof cacheSchema>;
export type WorkspaceArchive = z.infer<typeof workspacesSchema>["archives"][number];
export type CacheStored = z.infer<typeof cacheStoredSchema>;
export type StoredArtifact = z.infer<typeof artifactSchema>;
export type TestReportCounts = z.infer<typeof testReportSchema>;
