import type { z } from "zod";
import {
  artifactSchema,
  type CacheEntry,
  cacheSchema,
  cacheStoredSchema,
  DIRECT_HEADER,
  downloadLinkSchema,
  multipartStartedSchema,
  PROTOCOL_HEADER,
  presignedUrlSchema,
  storedSchema,
  testReportSchema,
  type UploadPlan,
  uploadPlanSchema,
  type UploadTarget,
  type WorkspaceArchive,
  workspacesSchema,
} from "../../shared/protocol/archive-api.ts";
import { chunkReturn } from "../archive/pack.ts";
import { socketRequest } from "../archive/socket-http.ts";
import { type BucketSession, sendToBucket } from "./bucket-upload.ts";
import { checked, FilesError, isTransient } from "./files-error.ts";

export { FilesError, isTransient } from "./files-error.ts";
import { PROTOCOL_VERSION } from "../../shared/protocol/version.ts";
import { type RetryPolicy, retry } from "../../shared/retry.ts";
import type { TestReportFormat } from "../../shared/pipeline/types.ts";

/** Idempotent reads survive a dropped connection or a coordinator restart; uploads are never retried (their body is a one-shot stream). */
export const IDEMPOTENT_READ: RetryPolicy = { tries: 3, baseMs: 250, maxMs: 2_000 };
/**
 * The small requests of an upload to the bucket (its plan, URLs, start and completion) are all safe to
 * repeat, and the parts already sent stay in the bucket: they wait out the agent's move to another node.
 */
export const UPLOAD_STEP: RetryPolicy = { tries: 6, baseMs: 500, maxMs: 4_000 };

export interface FilesClientOptions {
  /** the coordinator node the agent is connected to now (it moves between nodes of a cluster) */
  coordinator: () => string;
  /** a private CA's PEM for an https:// coordinator */
  ca: string | null;
  attempt: string;
  agentId: () => string;
  credential: () => string;
  /** aborts whatever request is in flight (the attempt was cancelled or timed out) */
  signal?: AbortSignal;
}

/** Keeps the slashes of an object key or artifact path, encodes everything else. */
const encodePath = (path: string) => path.split("/").map(encodeURIComponent).join("/");

/** The agent's side of the archive HTTP API: workspaces, caches, artifacts, scoped to one attempt. */
export class FilesClient {
  constructor(private readonly opts: FilesClientOptions) {}

  /** Set once the coordinator said to stream uploads to it: its store does not change during the attempt. */
  private streamsHere = false;

  /** Sends one request; any answer but 2xx becomes a FilesError carrying the coordinator's message. */
  private async request(method: string, path: string, body?: BodyInit, extra: Record<string, string> = {}, signal = this.opts.signal): Promise<Response> {
    const { url, headers } = this.addressed(path, extra);
    const { ca } = this.opts;
    // an archive goes over the socket (socket-http.ts): a third of the saving agent's main thread was fetch's upload
    if (body instanceof ReadableStream) {
      headers["content-type"] = "application/zstd";
      const sent = chunkReturn(body) ?? undefined;
      return checked(`${method} ${path}`, () => socketRequest(url, { method, headers, body, sent, ca, signal }), signal);
    }
    const tls = ca ? { ca } : undefined;
    return checked(`${method} ${path}`, () => fetch(url, { method, headers, body, signal, duplex: "half", tls } as RequestInit), signal);
  }

  /** The URL of `path` for this attempt and the headers every request carries. */
  private addressed(path: string, extra: Record<string, string>): { url: string; headers: Record<string, string> } {
    const { coordinator, attempt } = this.opts;
    const headers: Record<string, string> = {
      authorization: `Bearer ${this.opts.credential()}`,
      "x-drover-agent": this.opts.agentId(),
      [PROTOCOL_HEADER]: String(PROTOCOL_VERSION),
      ...extra,
    };
    return { url: `${coordinator()}/agent/v1/attempts/${encodeURIComponent(attempt)}/${path}`, headers };
  }

  /** A JSON request to the coordinator, its answer checked against `schema`. */
  private async post<T>(path: string, payload: unknown, schema: z.ZodType<T>, signal = this.opts.signal): Promise<T> {
    const res = await this.request("POST", path, JSON.stringify(payload), { "content-type": "application/json" }, signal);
    return this.json(schema, res);
  }

  private async json<T>(schema: z.ZodType<T>, res: Response): Promise<T> {
    return schema.parse(await res.json());
  }

  private read<T>(fn: () => Promise<T>, policy = IDEMPOTENT_READ): Promise<T> {
    return retry(policy, fn, { retryIf: isTransient, signal: this.opts.signal });
  }

  /**
   * Uploads `body` for `target` as the coordinator says: streamed to it (`streamed`, the PUT route), or
   * straight to the bucket by presigned URLs, then reported complete; the answer is the route's either way.
   */
  private async upload<T>(target: UploadTarget, body: ReadableStream<Uint8Array> | Blob, schema: z.ZodType<T>, streamed: () => Promise<Response>): Promise<T> {
    const size = body instanceof Blob ? body.size : undefined;
    const plan: UploadPlan = this.streamsHere ? { via: "coordinator" } : await this.read(() => this.post("uploads", { target, size }, uploadPlanSchema), UPLOAD_STEP);
    if (plan.via === "coordinator") {
      this.streamsHere = true;
      return this.json(schema, await streamed());
    }
    if (plan.via === "exists") {
      if (body instanceof ReadableStream) await body.cancel();
      return schema.parse({ stored: false });
    }
    const stream = body instanceof Blob ? body.stream() : body;
    const complete = await sendToBucket(this.bucketSession(target), target, stream, plan, size);
    return this.read(() => this.post("uploads/complete", complete, schema), UPLOAD_STEP);
  }

  private bucketSession(target: UploadTarget): BucketSession {
    const signal = this.opts.signal;
    return {
      url: (size, part) => this.read(() => this.post("uploads/url", { target, size, part }, presignedUrlSchema), UPLOAD_STEP).then((r) => r.url),
      startMultipart: () => this.read(() => this.post("uploads/multipart", { target }, multipartStartedSchema), UPLOAD_STEP).then((r) => r.uploadId),
      // not the attempt's signal: a cancelled attempt's upload is still worth aborting, briefly
      abort: (uploadId) => this.request("POST", "uploads/abort", JSON.stringify({ target, uploadId }), { "content-type": "application/json" }, AbortSignal.timeout(5_000)).then(() => {}),
      put: (url, bytes, what) =>
        this.read(async () => {
          const res = await checked(`PUT ${what} to the bucket`, () => fetch(url, { method: "PUT", body: bytes as BodyInit, signal }), signal);
          return res.headers.get("etag") ?? "";
        }),
    };
  }

  /** A cache lookup: 404 means no such cache, which is an answer, not an error. */
  private async findCache(path: string): Promise<CacheEntry | null> {
    return this.read(() =>
      this.request("GET", path).then(
        (res) => this.json(cacheSchema, res),
        (e) => (e instanceof FilesError && e.status === 404 ? null : Promise.reject(e)),
      ),
    );
  }

  /** Uploads a step's workspace archive (a compressed tar stream of unknown length). */
  async putWorkspace(step: number, archive: ReadableStream<Uint8Array>): Promise<z.infer<typeof storedSchema>> {
    return this.upload({ kind: "workspace", step }, archive, storedSchema, () => this.request("PUT", `steps/${step}/workspace`, archive));
  }

  /** The workspace archives of every ancestor task, in the order to extract them. */
  async workspaces(): Promise<WorkspaceArchive[]> {
    return this.read(async () => {
      const res = await this.request("GET", "workspaces");
      return (await this.json(workspacesSchema, res)).archives;
    });
  }

  /**
   * A download as a stream, retried until it starts, not mid-stream: the coordinator sends the bytes,
   * or (on S3) a presigned URL to fetch them from the bucket.
   */
  private stream(path: string): Promise<ReadableStream<Uint8Array>> {
    const { signal } = this.opts;
    return this.read(async () => {
      // read off the socket (socket-http.ts): half the CPU of fetch for an archive's bytes
      const { url, headers } = this.addressed(path, { [DIRECT_HEADER]: "1" });
      let res = await checked(`GET ${path}`, () => socketRequest(url, { method: "GET", headers, ca: this.opts.ca, signal }), signal);
      if (res.headers.get(DIRECT_HEADER)) {
        const { url } = await this.json(downloadLinkSchema, res);
        res = await checked(`GET ${path} from the bucket`, () => fetch(url, { signal }), signal);
      }
      if (!res.body) throw new FilesError(res.status, "empty", `GET ${path} returned no body`);
      return res.body;
    });
  }

  /** The run's uploaded source, which the attempt's work dir starts from. */
  async runWorkspace(): Promise<ReadableStream<Uint8Array>> {
    return this.stream("workspace");
  }

  /** The bytes of an object this attempt may read. */
  async object(key: string): Promise<ReadableStream<Uint8Array>> {
    return this.stream(`objects/${encodePath(key)}`);
  }

  /** The cache named exactly `key`, or null. */
  async cache(key: string): Promise<CacheEntry | null> {
    return this.findCache(`caches/${encodeURIComponent(key)}`);
  }

  /** The newest cache whose key starts with `prefix`, or null. */
  async newestCache(prefix: string): Promise<CacheEntry | null> {
    return this.findCache(`caches?prefix=${encodeURIComponent(prefix)}`);
  }

  /** Uploads a cache; false when a concurrent save of the same key won. */
  async putCache(key: string, archive: ReadableStream<Uint8Array>): Promise<boolean> {
    const put = () => this.request("PUT", `caches/${encodeURIComponent(key)}`, archive);
    return (await this.upload({ kind: "cache", key }, archive, cacheStoredSchema, put)).stored;
  }

  /** Uploads one artifact file's raw bytes under its path relative to the work dir. */
  async putArtifact(path: string, content: Blob): Promise<z.infer<typeof artifactSchema>> {
    return this.upload({ kind: "artifact", path }, content, artifactSchema, () => this.request("PUT", `artifacts/${encodePath(path)}`, content));
  }

  /** Sends a test report (JUnit XML or TAP) for the coordinator to parse; says how many cases it held. */
  async putTestReport(step: number, path: string, format: TestReportFormat, content: Blob): Promise<z.infer<typeof testReportSchema>> {
    const res = await this.request("PUT", `test-reports/${step}/${encodePath(path)}?format=${format}`, content);
    return this.json(testReportSchema, res);
  }
}
