/**
 * A step's log streamed as one HTTP upload, beside the binary frames (see docs/protocol.md, "Logs"):
 * `PUT /agent/v1/attempts/:attempt/logs/:step?offset=N`, chunked, authorised by the agent's credential.
 * It answers `{ stored }` once the body is written, or a 409 whose details say why not.
 */
export const logUploadPath = (attempt: string, step: number, offset: number) =>
  `/agent/v1/attempts/${encodeURIComponent(attempt)}/logs/${step}?offset=${offset}`;

/** The answer to a log upload that was written. */
export interface LogUploaded {
  /** bytes of the log stored now */
  stored: number;
}

/**
 * Why a log upload was refused (409): `busy` another upload of the log is still being written (try again
 * shortly); `offset` the upload did not start at the stored size; `final` the step's log is complete; `full`
 * the log reached the coordinator's size cap; `elsewhere` this node does not hold the agent's connection.
 */
export type LogUploadRefusal = "busy" | "offset" | "final" | "full" | "elsewhere";

export interface LogUploadRefused {
  reason: LogUploadRefusal;
  /** bytes of the log stored on this node */
  stored: number;
}
