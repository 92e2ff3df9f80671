import { resolve } from "node:path";
import { S3Client } from "@aws-sdk/client-s3";
import { DEFAULT_MAX_UNKNOWN_SIZE_BYTES, type ObjectStore, type ObjectStoreOptions } from "./object-store.ts";
import { PosixObjectStore } from "./posix.ts";
import { MIB, PART_SIZE_MIB, S3Direct, URL_TTL_SECONDS } from "./s3-direct.ts";
import { S3ObjectStore } from "./s3.ts";

const S3_PARAMS = new Set(["endpoint", "region", "forcePathStyle", "direct", "partMiB", "urlTtl"]);

/**
 * Opens the store named by DROVER_STORAGE-style specs:
 * `posix:./data/objects`, a bare path, or
 * `s3://bucket?endpoint=http://host:port&region=us-east-1&forcePathStyle=true`.
 * On S3, agents move archives straight to and from the bucket by presigned URLs unless `direct=false`;
 * `partMiB` (8–64, default 16) is the multipart part size and `urlTtl` a URL's lifetime in seconds (default 900).
 * S3 credentials come from the SDK's usual chain (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, profiles, roles).
 */
export function openObjectStore(spec: string, opts: ObjectStoreOptions = {}): ObjectStore {
  if (spec.startsWith("s3://")) return openS3(new URL(spec), opts);
  const path = spec.startsWith("posix:") ? spec.slice("posix:".length) : spec;
  if (path === "" || /^[a-z][a-z0-9+.-]*:\/\//i.test(path)) throw new Error(`unsupported object store "${spec}"`);
  return new PosixObjectStore(resolve(path), opts);
}

function flag(url: URL, name: string): boolean | null {
  const value = url.searchParams.get(name);
  if (value !== null && value !== "true" && value !== "false") throw new Error(`object store "${url.href}": ${name} must be true or false`);
  return value === null ? null : value === "true";
}

function bounded(url: URL, name: string, bounds: { min: number; max: number; default: number }): number {
  const raw = url.searchParams.get(name);
  if (raw === null) return bounds.default;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < bounds.min || n > bounds.max) {
    throw new Error(`object store "${url.href}": ${name} must be a whole number from ${bounds.min} to ${bounds.max}`);
  }
  return n;
}

function openS3(url: URL, opts: ObjectStoreOptions): S3ObjectStore {
  const bucket = decodeURIComponent(url.hostname);
  if (bucket === "" || (url.pathname !== "" && url.pathname !== "/")) {
    throw new Error(`object store "${url.href}": expected s3://bucket?params`);
  }
  for (const name of url.searchParams.keys()) {
    if (!S3_PARAMS.has(name)) throw new Error(`object store "${url.href}": unknown parameter "${name}"`);
  }
  const endpoint = url.searchParams.get("endpoint") ?? undefined;
  const pathStyle = flag(url, "forcePathStyle");
  const partSize = bounded(url, "partMiB", PART_SIZE_MIB) * MIB;
  const urlTtlSeconds = bounded(url, "urlTtl", URL_TTL_SECONDS);
  const client = new S3Client({
    endpoint,
    region: url.searchParams.get("region") ?? process.env.AWS_REGION ?? "us-east-1",
    // Self-hosted S3 servers rarely serve virtual-host bucket names.
    forcePathStyle: pathStyle ?? endpoint !== undefined,
    // Many S3-compatible servers reject the SDK's default CRC32 checksum
    // headers; the store computes its own sha256 anyway.
    ...(endpoint && { requestChecksumCalculation: "WHEN_REQUIRED", responseChecksumValidation: "WHEN_REQUIRED" }),
  });
  const maxBytes = opts.maxUnknownSizeBytes ?? DEFAULT_MAX_UNKNOWN_SIZE_BYTES;
  const direct = flag(url, "direct") === false ? undefined : new S3Direct(client, { bucket, partSize, urlTtlSeconds, maxBytes });
  return new S3ObjectStore(client, bucket, { ...opts, direct });
}
