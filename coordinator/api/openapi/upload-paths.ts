import { z } from "@hono/zod-openapi";
import {
  artifactSchema,
  cacheStoredSchema,
  multipartStartedSchema,
  multipartStartSchema,
  presignedUrlSchema,
  storedSchema,
  uploadAbortSchema,
  uploadCompleteSchema,
  uploadPlanSchema,
  uploadRequestSchema,
  uploadUrlRequestSchema,
} from "../../../shared/protocol/archive-api.ts";
import { endpoints, json, jsonBody, type Registry } from "./common.ts";
import { agentHeader } from "./fleet-paths.ts";

const onS3 = "Only where the store signs presigned URLs (S3); elsewhere a 409. See docs/storage.md.";

/** The negotiated uploads of shared/protocol/archive-api.ts: stream to the coordinator, or send to the bucket by presigned URLs. */
export function registerUploadPaths(registry: Registry) {
  const agent = endpoints(registry, "agent protocol");
  const attempt = "/agent/v1/attempts/{attempt}/uploads";
  agent({
    method: "post",
    path: attempt,
    role: "agent",
    summary: "Where an upload goes: streamed to the coordinator (the PUT routes), or to the bucket by presigned URLs",
    description: "The coordinator decides the object's key from the attempt and the target; with a known size that fits one part, the answer carries the single PUT's URL.",
    request: { headers: agentHeader, body: jsonBody(uploadRequestSchema) },
    responses: { 200: json(uploadPlanSchema, "the plan") },
    errors: [413],
  });
  agent({
    method: "post",
    path: `${attempt}/multipart`,
    role: "agent",
    summary: "Start a multipart upload to the bucket",
    description: onS3,
    request: { headers: agentHeader, body: jsonBody(multipartStartSchema) },
    responses: { 201: json(multipartStartedSchema, "started") },
    errors: [409, 503],
  });
  agent({
    method: "post",
    path: `${attempt}/url`,
    role: "agent",
    summary: "A presigned URL for a single PUT of a size, or for one part of a multipart upload",
    description: `At most the store's part size per URL, at most the parts the object size limit allows. ${onS3}`,
    request: { headers: agentHeader, body: jsonBody(uploadUrlRequestSchema) },
    responses: { 200: json(presignedUrlSchema, "the URL") },
    errors: [409, 413],
  });
  agent({
    method: "post",
    path: `${attempt}/complete`,
    role: "agent",
    summary: "Report an upload to the bucket complete: recorded once the bucket holds it at the reported size",
    description: `The answer is the target's PUT route's. ${onS3}`,
    request: { headers: agentHeader, body: jsonBody(uploadCompleteSchema) },
    responses: {
      200: json(cacheStoredSchema, "a cache of the key was saved meanwhile: not stored"),
      201: json(z.union([storedSchema, cacheStoredSchema, artifactSchema]), "recorded"),
    },
    errors: [409, 413, 503],
  });
  agent({
    method: "post",
    path: `${attempt}/abort`,
    role: "agent",
    summary: "Abort a multipart upload the agent gives up on",
    description: onS3,
    request: { headers: agentHeader, body: jsonBody(uploadAbortSchema) },
    responses: { 204: { description: "aborted (or gone already)" } },
    errors: [409, 503],
  });
}
