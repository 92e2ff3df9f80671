import type { Context } from "hono";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import { DroverError, type ErrorBody, type ErrorCode } from "../../shared/errors.ts";

/** Every error code with its status; the OpenAPI document lists the codes from here. */
export const STATUS: Record<ErrorCode, ContentfulStatusCode> = {
  bad_request: 400,
  invalid_pipeline: 400,
  unauthorized: 401,
  forbidden: 403,
  not_found: 404,
  conflict: 409,
  too_large: 413,
  protocol_error: 400,
  storage_error: 503,
  incompatible_version: 400,
  internal: 500,
};

export function errorResponse(c: Context, err: unknown): Response {
  if (err instanceof DroverError) {
    const body: ErrorBody = { error: { code: err.code, message: err.message, details: err.details } };
    return c.json(body, STATUS[err.code]);
  }
  // SQLite's "database or disk is full" (SQLITE_FULL), wherever it surfaces, is the disk, not a bug
  if (/SQLITE_FULL|database or disk is full/.test(`${(err as Error)?.message} ${((err as Error)?.cause as Error)?.message}`)) {
    console.error("[api] coordinator out of disk space:", (err as Error).message);
    const body: ErrorBody = { error: { code: "storage_error", message: "coordinator out of disk space" } };
    return c.json(body, 503);
  }
  console.error("[api] unexpected error:", err);
  const body: ErrorBody = { error: { code: "internal", message: "internal error" } };
  return c.json(body, 500);
}

export { notFound } from "../../shared/errors.ts";
