import {
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  type S3Client,
} from "@aws-sdk/client-s3";
import { Upload } from "@aws-sdk/lib-storage";
import {
  type ByteRange,
  checkKey,
  checkPrefix,
  checkRange,
  DEFAULT_MAX_UNKNOWN_SIZE_BYTES,
  type ObjectBody,
  type ObjectInfo,
  type ObjectStore,
  type PutOptions,
  type PutResult,
} from "./object-store.ts";
import type { DirectTransfers } from "./direct.ts";
import { emptyStream, limitFor, metered } from "./streams.ts";

// Upload fills one part while queueSize parts are in flight, and the HTTP
// layer copies each part on its way out: about 60 MiB live per put of unknown
// length, however long. 10,000 parts of 8 MiB still allow objects of ~78 GiB.
const PART_SIZE = 8 * 1024 * 1024;
const QUEUE_SIZE = 2;

export interface S3StoreOptions {
  maxUnknownSizeBytes?: number;
  listPageSize?: number;
  /** presigned transfers for agents; without it every byte goes through the coordinator */
  direct?: DirectTransfers;
}

function httpStatus(err: unknown): number | undefined {
  return (err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
}

export class S3ObjectStore implements ObjectStore {
  readonly kind = "s3";
  private readonly maxUnknown: number;
  private readonly listPageSize: number;
  readonly direct?: DirectTransfers;

  constructor(
    private readonly client: S3Client,
    readonly bucket: string,
    opts: S3StoreOptions = {},
  ) {
    this.maxUnknown = opts.maxUnknownSizeBytes ?? DEFAULT_MAX_UNKNOWN_SIZE_BYTES;
    this.listPageSize = opts.listPageSize ?? 1000;
    this.direct = opts.direct;
  }

  async put(key: string, body: ObjectBody, opts: PutOptions = {}): Promise<PutResult> {
    const meter = metered(key, body, limitFor(body, opts.maxBytes, this.maxUnknown), opts);
    try {
      const upload = new Upload({
        client: this.client,
        params: { Bucket: this.bucket, Key: checkKey(key), Body: meter.stream },
        partSize: PART_SIZE,
        queueSize: QUEUE_SIZE,
      });
      await upload.done();
      return meter.result();
    } catch (err) {
      await meter.stream.cancel(err).catch(() => {});
      // Upload aborts the multipart upload before rejecting; when that abort
      // fails too, its error would hide the reason the put failed.
      throw meter.failure() ?? err;
    }
  }

  putFile(key: string, path: string): Promise<PutResult> {
    return this.put(key, Bun.file(path).stream(), { maxBytes: Number.POSITIVE_INFINITY });
  }

  body(key: string): Promise<ReadableStream<Uint8Array> | null> {
    return this.get(key);
  }

  async get(key: string, range?: ByteRange): Promise<ReadableStream<Uint8Array> | null> {
    checkKey(key);
    checkRange(range);
    if (range?.end !== undefined && range.end <= range.start) {
      return (await this.stat(key)) ? emptyStream() : null;
    }
    const header = range && `bytes=${range.start}-${range.end === undefined ? "" : range.end - 1}`;
    try {
      const res = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: key, Range: header }));
      return res.Body ? (res.Body.transformToWebStream() as ReadableStream<Uint8Array>) : emptyStream();
    } catch (err) {
      if (httpStatus(err) === 404) return null;
      // 416: the range starts at or past the end of an existing object.
      if (httpStatus(err) === 416) return emptyStream();
      throw err;
    }
  }

  async stat(key: string): Promise<ObjectInfo | null> {
    try {
      const res = await this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: checkKey(key) }));
      return { key, size: res.ContentLength ?? 0, modifiedAt: res.LastModified?.getTime() ?? 0 };
    } catch (err) {
      if (httpStatus(err) === 404) return null;
      throw err;
    }
  }

  async delete(key: string): Promise<void> {
    await this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: checkKey(key) }));
  }

  async *list(prefix: string): AsyncIterable<ObjectInfo> {
    checkPrefix(prefix);
    let token: string | undefined;
    do {
      const page = await this.client.send(
        new ListObjectsV2Command({
          Bucket: this.bucket,
          Prefix: prefix || undefined,
          ContinuationToken: token,
          MaxKeys: this.listPageSize,
        }),
      );
      for (const o of page.Contents ?? []) {
        if (o.Key) yield { key: o.Key, size: o.Size ?? 0, modifiedAt: o.LastModified?.getTime() ?? 0 };
      }
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
  }
}
