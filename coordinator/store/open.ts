import { resolve } from "node:path";
import { S3Client } from "@aws-sdk/client-s3";
import type { ObjectStore, ObjectStoreOptions } from "./object-store.ts";
import { PosixObjectStore } from "./posix.ts";
import { S3ObjectStore } from "./s3.ts";

const S3_PARAMS = new Set(["endpoint", "region", "forcePathStyle"]);

/**
 * Opens the store named by DROVER_STORAGE-style specs:
 * `posix:./data/objects`, a bare path, or
 * `s3://bucket?endpoint=http://host:port&region=us-east-1&forcePathStyle=true`.
 * S3 credentials come from the SDK's usual chain (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, profiles, roles).
 */
export function openObjectStore(spec: string, opts: ObjectStoreOptions = {}): ObjectStore {
  if (spec.startsWith("s3://")) return openS3(new URL(spec), opts);
  const path = spec.startsWith("posix:") ? spec.slice("posix:".length) : spec;
  if (path === "" || /^[a-z][a-z0-9+.-]*:\/\//i.test(path)) throw new Error(`unsupported object store "${spec}"`);
  return new PosixObjectStore(resolve(path), opts);
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
  const pathStyle = url.searchParams.get("forcePathStyle");
  if (pathStyle !== null && pathStyle !== "true" && pathStyle !== "false") {
    throw new Error(`object store "${url.href}": forcePathStyle must be true or false`);
  }
  const client = new S3Client({
    endpoint,
    region: url.searchParams.get("region") ?? process.env.AWS_REGION ?? "us-east-1",
    // Self-hosted S3 servers rarely serve virtual-host bucket names.
    forcePathStyle: pathStyle === null ? endpoint !== undefined : pathStyle === "true",
    // Many S3-compatible servers reject the SDK's default CRC32 checksum
    // headers; the store computes its own sha256 anyway.
    ...(endpoint && { requestChecksumCalculation: "WHEN_REQUIRED", responseChecksumValidation: "WHEN_REQUIRED" }),
  });
  return new S3ObjectStore(client, bucket, opts);
}
