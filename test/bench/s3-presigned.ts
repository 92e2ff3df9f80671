import { PutObjectCommand, S3Client } from "@aws-sdk/client-s3";
import { randomFillSync } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type BucketSession, sendToBucket } from "../../agent/connection/bucket-upload.ts";
import { maxParts } from "../../coordinator/store/direct.ts";
import { openObjectStore } from "../../coordinator/store/open.ts";
import { startS3rver } from "../helpers/s3rver.ts";
import { type Benchmark, MiB, round } from "./lib.ts";

const ARTIFACT_BYTES = 256 * MiB;
const TRIES = 3;

/**
 * An artifact's upload the way an agent sends it on S3: the agent's own code (sendToBucket: 16 MiB
 * parts, each read and sha256'd while the one before is on its way, one presigned URL per part) and
 * the coordinator's own signing, in one process, to s3rver on 127.0.0.1. The baseline is one
 * PutObject of the same bytes, already in memory, by the SDK from the same process: what the bucket
 * takes when nothing is split, signed per part or hashed.
 */
export const s3Presigned: Benchmark = {
  name: "s3-presigned",
  async run() {
    const server = await startS3rver("drover-bench-presigned");
    const dir = mkdtempSync(join(tmpdir(), "drover-bench-presigned-"));
    try {
      const file = join(dir, "artifact.bin");
      writeFileSync(file, randomFillSync(new Uint8Array(ARTIFACT_BYTES)));
      const store = openObjectStore(server.spec);
      const direct = store.direct!;
      const client = new S3Client({ endpoint: server.endpoint, region: "us-east-1", forcePathStyle: true, requestChecksumCalculation: "WHEN_REQUIRED" });

      const presigned = async (key: string) => {
        const session: BucketSession = {
          url: (size, part) => (part ? direct.partUrl(key, part.uploadId, part.number, size) : direct.putUrl(key, size)),
          startMultipart: () => direct.startMultipart(key),
          abort: (uploadId) => direct.abortMultipart(key, uploadId),
          put: async (url, bytes) => {
            const res = await fetch(url, { method: "PUT", body: bytes as BodyInit });
            if (!res.ok) throw new Error(`PUT to the bucket: HTTP ${res.status}`);
            return res.headers.get("etag") ?? "";
          },
        };
        const plan = { via: "bucket" as const, object: key, partSize: direct.partSize, maxParts: maxParts(direct), maxBytes: direct.maxBytes, urlTtlSeconds: direct.urlTtlSeconds };
        const done = await sendToBucket(session, { kind: "artifact", path: "artifact.bin" }, Bun.file(file).stream(), plan);
        if (!done.multipart) throw new Error("a 256 MiB artifact went up in one PUT");
        await direct.completeMultipart(key, done.multipart.uploadId, done.multipart.parts);
      };
      const putObject = async (key: string) => {
        await client.send(new PutObjectCommand({ Bucket: server.bucket, Key: key, Body: readFileSync(file) }));
      };

      // the two take turns, so that both see the machine's busy and quiet moments; each figure is its best
      const timed = async (upload: (key: string) => Promise<void>, key: string) => {
        const t0 = performance.now();
        await upload(key);
        const rate = ARTIFACT_BYTES / MiB / ((performance.now() - t0) / 1000);
        const stat = await store.stat(key);
        if (stat?.size !== ARTIFACT_BYTES) throw new Error(`${key} is ${stat?.size} bytes in the bucket, not ${ARTIFACT_BYTES}`);
        await store.delete(key);
        return rate;
      };
      let baseline = 0;
      let value = 0;
      for (let i = 0; i < TRIES; i++) {
        baseline = Math.max(baseline, await timed(putObject, "bench/putobject"));
        value = Math.max(value, await timed(presigned, "bench/presigned"));
      }
      client.destroy();
      return {
        s3_presigned_mb_s: {
          value: round(value, 1),
          unit: "MiB/s",
          baseline: round(baseline, 1),
          ratio: round(value / baseline),
          target: "(no target; baseline: one PutObject from the same process, s3rver)",
        },
      };
    } finally {
      rmSync(dir, { recursive: true, force: true });
      await server.stop();
    }
  },
};
