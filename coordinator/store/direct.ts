/** One part of a multipart upload, as the bucket acknowledged it. */
export interface UploadedPart {
  part: number;
  etag: string;
}

export interface PendingUpload {
  key: string;
  uploadId: string;
  initiatedAt: number;
}

/**
 * A store whose clients may move bytes straight to and from it by presigned URLs (S3): the
 * coordinator signs, the agent transfers. Every URL is valid for `urlTtlSeconds`.
 */
export interface DirectTransfers {
  readonly urlTtlSeconds: number;
  /** The size of every multipart part but the last; a single PUT carries at most this much. */
  readonly partSize: number;
  /** The largest object accepted; it bounds the number of parts too. */
  readonly maxBytes: number;
  getUrl(key: string): Promise<string>;
  /** A PUT of exactly `size` bytes (the length is part of the signature). */
  putUrl(key: string, size: number): Promise<string>;
  startMultipart(key: string): Promise<string>;
  partUrl(key: string, uploadId: string, part: number, size: number): Promise<string>;
  completeMultipart(key: string, uploadId: string, parts: UploadedPart[]): Promise<void>;
  /** Aborting an upload that is gone already is not an error. */
  abortMultipart(key: string, uploadId: string): Promise<void>;
  /** Multipart uploads begun and neither completed nor aborted, whose key starts with `prefix`. */
  pendingUploads(prefix: string): AsyncIterable<PendingUpload>;
}

/** How many parts an object of at most `maxBytes` needs (S3 allows 10,000). */
export const maxParts = (d: Pick<DirectTransfers, "partSize" | "maxBytes">) =>
  Math.min(10_000, Math.max(1, Math.ceil(d.maxBytes / d.partSize)));
