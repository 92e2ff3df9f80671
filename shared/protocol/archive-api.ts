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

/**
 * Uploads are negotiated: the agent names what it uploads and the coordinator answers "stream it to me"
 * (the PUT routes above) or "send it to the bucket" by presigned URLs (S3), each URL signed on request.
 * The coordinator derives the object's key from the target and the attempt, so the target is all an
 * agent ever names; it records the object only once the agent reports it complete and the bucket has it
 * at the reported size.
 */
export const uploadTargetSchema = z.discriminatedUnion("kind", [
  z.object({ kind: z.literal("workspace"), step: z.number().int().min(0).max(10_000) }),
  z.object({ kind: z.literal("cache"), key: z.string().min(1).max(1024) }),
  z.object({ kind: z.literal("artifact"), path: z.string().min(1).max(4096) }),
]);
const size = z.number().int().nonnegative();
/** POST …/uploads: `size` when the agent knows it up front (an artifact file) */
export const uploadRequestSchema = z.object({ target: uploadTargetSchema, size: size.optional() });
export const uploadPlanSchema = z.discriminatedUnion("via", [
  z.object({ via: z.literal("coordinator") }),
  /** a cache of that key was saved meanwhile: nothing to upload (as a PUT's `{ stored: false }`) */
  z.object({ via: z.literal("exists") }),
  z.object({
    via: z.literal("bucket"),
    object: z.string(),
    /** every part but the last has exactly this size; a body up to this size goes in one PUT */
    partSize: z.number().int().positive(),
    maxParts: z.number().int().positive(),
    maxBytes: z.number().int().positive(),
    urlTtlSeconds: z.number().int().positive(),
    /** with a known size of at most partSize: the single PUT's URL, sparing a request */
    url: z.string().optional(),
  }),
]);
/** POST …/uploads/multipart */
export const multipartStartSchema = z.object({ target: uploadTargetSchema });
export const multipartStartedSchema = z.object({ uploadId: z.string() });
/** POST …/uploads/url: a single PUT of `size` bytes, or part `part.number` of a multipart upload */
export const uploadUrlRequestSchema = z.object({
  target: uploadTargetSchema,
  size,
  part: z.object({ uploadId: z.string().min(1).max(1024), number: z.number().int().min(1).max(10_000) }).optional(),
});
export const presignedUrlSchema = z.object({ url: z.string() });
/** POST …/uploads/complete: the answer is the target kind's (storedSchema, cacheStoredSchema, artifactSchema) */
export const uploadCompleteSchema = z.object({
  target: uploadTargetSchema,
  size,
  /** hex sha256 of the bytes; artifacts carry it, archives leave it empty */
  sha256: z.string().regex(/^([0-9a-f]{64})?$/),
  multipart: z
    .object({
      uploadId: z.string().min(1).max(1024),
      parts: z.array(z.object({ part: z.number().int().min(1).max(10_000), etag: z.string().min(1).max(256) })).min(1).max(10_000),
    })
    .optional(),
});
/** POST …/uploads/abort: the agent gives up on a multipart upload (cleanup also finds abandoned ones) */
export const uploadAbortSchema = z.object({ target: uploadTargetSchema, uploadId: z.string().min(1).max(1024) });

/**
 * Downloads: an agent sending this header on GET …/workspace or …/objects/:key takes a presigned URL
 * instead of the bytes; a coordinator that answers with one sets it on the answer (body: downloadLinkSchema).
 */
export const DIRECT_HEADER = "x-drover-direct";
export const downloadLinkSchema = z.object({ url: z.string(), size });

export type UploadTarget = z.infer<typeof uploadTargetSchema>;
export type UploadPlan = z.infer<typeof uploadPlanSchema>;
export type UploadComplete = z.infer<typeof uploadCompleteSchema>;
export type DownloadLink = z.infer<typeof downloadLinkSchema>;
