import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  GetObjectCommand,
  ListMultipartUploadsCommand,
  PutObjectCommand,
  type S3Client,
  UploadPartCommand,
} from "@aws-sdk/client-s3";
import { getSignedUrl } from "@aws-sdk/s3-request-presigner";
import type { DirectTransfers, PendingUpload, UploadedPart } from "./direct.ts";
import { checkKey, checkPrefix } from "./object-store.ts";

export const MIB = 1024 * 1024;
/** Bounds on the part size: S3 wants at least 5 MiB but the last part, and an agent holds two parts in memory. */
export const PART_SIZE_MIB = { min: 8, max: 64, default: 16 } as const;
/** Bounds on a URL's lifetime: long enough for one part on a slow link, short enough that a leaked URL soon dies. */
export const URL_TTL_SECONDS = { min: 60, max: 7 * 24 * 3600, default: 900 } as const;

export interface S3DirectOptions {
  bucket: string;
  partSize: number;
  urlTtlSeconds: number;
  maxBytes: number;
}

const httpStatus = (err: unknown) => (err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;

/** Presigned URLs and multipart bookkeeping on an S3 bucket: the coordinator signs, agents move the bytes. */
export class S3Direct implements DirectTransfers {
  readonly partSize: number;
  readonly urlTtlSeconds: number;
  readonly maxBytes: number;
  private readonly bucket: string;

  constructor(
    private readonly client: S3Client,
    opts: S3DirectOptions,
  ) {
    this.bucket = opts.bucket;
    this.partSize = opts.partSize;
    this.urlTtlSeconds = opts.urlTtlSeconds;
    this.maxBytes = opts.maxBytes;
  }

  /** Signing the length makes the bucket refuse a body of any other size. */
  private signing(sized: boolean) {
    return { expiresIn: this.urlTtlSeconds, signableHeaders: sized ? new Set(["content-length"]) : undefined };
  }

  getUrl(key: string): Promise<string> {
    return getSignedUrl(this.client, new GetObjectCommand({ Bucket: this.bucket, Key: checkKey(key) }), this.signing(false));
  }

  putUrl(key: string, size: number): Promise<string> {
    const command = new PutObjectCommand({ Bucket: this.bucket, Key: checkKey(key), ContentLength: size });
    return getSignedUrl(this.client, command, this.signing(true));
  }

  async startMultipart(key: string): Promise<string> {
    const res = await this.client.send(new CreateMultipartUploadCommand({ Bucket: this.bucket, Key: checkKey(key) }));
    if (!res.UploadId) throw new Error(`the bucket gave no upload id for ${key}`);
    return res.UploadId;
  }

  partUrl(key: string, uploadId: string, part: number, size: number): Promise<string> {
    const command = new UploadPartCommand({ Bucket: this.bucket, Key: checkKey(key), UploadId: uploadId, PartNumber: part, ContentLength: size });
    return getSignedUrl(this.client, command, this.signing(true));
  }

  async completeMultipart(key: string, uploadId: string, parts: UploadedPart[]): Promise<void> {
    await this.client.send(
      new CompleteMultipartUploadCommand({
        Bucket: this.bucket,
        Key: checkKey(key),
        UploadId: uploadId,
        MultipartUpload: { Parts: parts.map((p) => ({ PartNumber: p.part, ETag: p.etag })) },
      }),
    );
  }

  async abortMultipart(key: string, uploadId: string): Promise<void> {
    try {
      await this.client.send(new AbortMultipartUploadCommand({ Bucket: this.bucket, Key: checkKey(key), UploadId: uploadId }));
    } catch (err) {
      if (httpStatus(err) !== 404) throw err;
    }
  }

  async *pendingUploads(prefix: string): AsyncIterable<PendingUpload> {
    checkPrefix(prefix);
    let keyMarker: string | undefined;
    let uploadIdMarker: string | undefined;
    do {
      const page = await this.client.send(
        new ListMultipartUploadsCommand({ Bucket: this.bucket, Prefix: prefix || undefined, KeyMarker: keyMarker, UploadIdMarker: uploadIdMarker }),
      );
      for (const u of page.Uploads ?? []) {
        if (u.Key && u.UploadId) yield { key: u.Key, uploadId: u.UploadId, initiatedAt: u.Initiated?.getTime() ?? 0 };
      }
      keyMarker = page.IsTruncated ? page.NextKeyMarker : undefined;
      uploadIdMarker = page.IsTruncated ? page.NextUploadIdMarker : undefined;
    } while (keyMarker);
  }
}
