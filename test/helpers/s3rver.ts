import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";

export interface S3rverHandle {
  /** An object store spec for openObjectStore, e.g. `s3://drover-test?endpoint=…`. */
  spec: string;
  endpoint: string;
  bucket: string;
  /** SIGSTOP: requests to the bucket hang until `resume` (SIGCONT). */
  pause(): void;
  resume(): void;
  stop(): Promise<void>;
}

// s3rver loads under Bun but misbehaves there: Bun's readdir is unsorted, so
// listings come out of order, and continuation tokens use DES, which neither
// Bun nor Node's default OpenSSL 3 provider offers. So it runs under Node
// with the legacy provider, in its own process.
//
// s3rver implements multipart uploads but not ListMultipartUploads nor AbortMultipartUpload, which
// Drover's cleanup of abandoned uploads calls: a middleware in front of its router answers those two
// as S3 does, over the directory where s3rver keeps the parts (<bucket>/._S3rver_uploads/<id>/).
const SERVER_SCRIPT = `
const S3rver = require("s3rver");
const fs = require("fs");
const path = require("path");
const server = new S3rver({
  address: "127.0.0.1", port: 0, silent: true,
  directory: process.env.S3RVER_DIR,
  configureBuckets: [{ name: process.env.S3RVER_BUCKET }],
});
const xml = (s) => s.replace(/[<>&'"]/g, (c) => "&#" + c.charCodeAt(0) + ";");
const uploadsDir = (bucket) => path.join(process.env.S3RVER_DIR, bucket, "._S3rver_uploads");
server.middleware.unshift(async (ctx, next) => {
  const [bucket, ...rest] = ctx.path.slice(1).split("/");
  const key = rest.join("/");
  if (ctx.method === "GET" && bucket && !key && "uploads" in ctx.query) {
    const dir = uploadsDir(bucket);
    const prefix = ctx.query.prefix ?? "";
    const ids = fs.existsSync(dir) ? fs.readdirSync(dir) : [];
    const uploads = ids
      .map((id) => ({ id, key: fs.readFileSync(path.join(dir, id, "key"), "utf8"), at: fs.statSync(path.join(dir, id, "key")).mtime }))
      .filter((u) => u.key.startsWith(prefix))
      .sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : a.id < b.id ? -1 : 1));
    ctx.type = "application/xml";
    ctx.body = '<?xml version="1.0" encoding="UTF-8"?><ListMultipartUploadsResult><Bucket>' + xml(bucket) +
      "</Bucket><Prefix>" + xml(prefix) + "</Prefix><MaxUploads>1000</MaxUploads><IsTruncated>false</IsTruncated>" +
      uploads.map((u) => "<Upload><Key>" + xml(u.key) + "</Key><UploadId>" + u.id + "</UploadId><Initiated>" + u.at.toISOString() + "</Initiated></Upload>").join("") +
      "</ListMultipartUploadsResult>";
    return;
  }
  if (ctx.method === "DELETE" && bucket && key && ctx.query.uploadId) {
    const dir = path.join(uploadsDir(bucket), path.basename(String(ctx.query.uploadId)));
    if (!fs.existsSync(dir)) {
      ctx.status = 404;
      ctx.type = "application/xml";
      ctx.body = '<?xml version="1.0" encoding="UTF-8"?><Error><Code>NoSuchUpload</Code><Message>The specified upload does not exist</Message></Error>';
      return;
    }
    fs.rmSync(dir, { recursive: true, force: true });
    ctx.status = 204;
    return;
  }
  return next();
});
server.run().then(({ port }) => console.log(JSON.stringify({ port })));
// Exit with the test process even if it dies without calling stop().
process.stdin.on("end", () => process.exit(0)).resume();
`;

const PROJECT_ROOT = join(import.meta.dir, "..", "..");
const CREDENTIAL_VARS = ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"] as const;

async function firstLine(stream: ReadableStream<Uint8Array>): Promise<string> {
  const reader = stream.getReader();
  const decoder = new TextDecoder();
  let text = "";
  while (!text.includes("\n")) {
    const { done, value } = await reader.read();
    if (done) break;
    text += decoder.decode(value, { stream: true });
  }
  reader.releaseLock();
  return text.split("\n", 1)[0] ?? "";
}

/** Starts s3rver on 127.0.0.1 with a free port, a temp dir and one bucket. Call stop() in afterAll. */
export async function startS3rver(bucket = "drover-test"): Promise<S3rverHandle> {
  const directory = await mkdtemp(join(tmpdir(), "drover-s3rver-"));
  const proc = Bun.spawn(["node", "--openssl-legacy-provider", "-e", SERVER_SCRIPT], {
    cwd: PROJECT_ROOT,
    env: { ...process.env, S3RVER_DIR: directory, S3RVER_BUCKET: bucket },
    stdin: "pipe",
    stdout: "pipe",
    stderr: "inherit",
  });
  const saved = CREDENTIAL_VARS.map((name) => process.env[name]);
  const stop = async () => {
    CREDENTIAL_VARS.forEach((name, i) => {
      if (saved[i] === undefined) delete process.env[name];
      else process.env[name] = saved[i];
    });
    proc.kill("SIGCONT");
    proc.kill();
    await proc.exited;
    await rm(directory, { recursive: true, force: true });
  };
  const port = /^\{"port":(\d+)\}$/.exec(await firstLine(proc.stdout))?.[1];
  if (!port) {
    await stop();
    throw new Error(`s3rver did not start (exit code ${proc.exitCode})`);
  }
  // s3rver accepts only its fixed key pair; the store reads credentials from the environment.
  for (const name of CREDENTIAL_VARS) process.env[name] = "S3RVER";
  const endpoint = `http://127.0.0.1:${port}`;
  return {
    spec: `s3://${bucket}?endpoint=${endpoint}&region=us-east-1&forcePathStyle=true`,
    endpoint,
    bucket,
    pause: () => proc.kill("SIGSTOP"),
    resume: () => proc.kill("SIGCONT"),
    stop,
  };
}
