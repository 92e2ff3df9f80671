import { S3Client } from "@aws-sdk/client-s3";
import { Upload } from "@aws-sdk/lib-storage";
import { startS3rver } from "../../helpers/s3rver.ts";
import { generated } from "../streams.ts";
const s3 = await startS3rver();
const client = new S3Client({ endpoint: s3.endpoint, region: "us-east-1", forcePathStyle: true, requestChecksumCalculation: "WHEN_REQUIRED" });
try {
  const [partMiB, queue, gcMode] = process.argv.slice(2).map(Number);
  for (let i = 0; i < 2; i++) {
    Bun.gc(true);
    const base = process.memoryUsage.rss();
    let peak = base;
    const t = setInterval(() => { if (gcMode) Bun.gc(true); peak = Math.max(peak, process.memoryUsage.rss()); }, 10);
    const body = generated(200 * 2 ** 20, 256 * 1024);
    const t0 = performance.now();
    await new Upload({ client, params: { Bucket: s3.bucket, Key: "m", Body: body.stream }, partSize: partMiB * 2 ** 20, queueSize: queue }).done();
    clearInterval(t);
    console.log({ partMiB, queue, gcMode, growth: (peak - base) / 2 ** 20, mbps: 200 * 2 ** 20 / 1e6 / ((performance.now() - t0) / 1000) });
  }
} finally { await s3.stop(); }
