/** Errors are named values; only the HTTP layer turns them into statuses. */
export type ErrorCode =
  | "bad_request"
  | "invalid_pipeline"
  | "unauthorized"
  | "forbidden"
  | "not_found"
  | "conflict"
  | "too_large"
  | "protocol_error"
  | "storage_error"
  | "incompatible_version"
  | "internal";

export class DroverError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly details?: unknown,
  ) {
    super(message);
  }
}

export const notFound = (what: string) => new DroverError("not_found", `${what} not found`);

export interface ErrorBody {
  error: { code: ErrorCode; message: string; details?: unknown };
}
