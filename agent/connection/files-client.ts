import type { z } from "zod";
import {
  artifactSchema,
  type CacheEntry,
  cacheSchema,
  cacheStoredSchema,
  PROTOCOL_HEADER,
  storedSchema,
  testReportSchema,
  type WorkspaceArchive,
  workspacesSchema,
} from "../../shared/protocol/archive-api.ts";
import { PROTOCOL_VERSION } from "../../shared/protocol/version.ts";
import { type RetryPolicy, retry } from "../../shared/retry.ts";
import type { TestReportFormat } from "../../shared/pipeline/types.ts";

/** Idempotent reads survive a dropped connection or a coordinator restart; uploads are never retried (their body is a one-shot stream). */
export const IDEMPOTENT_READ: RetryPolicy = { tries: 3, baseMs: 250, maxMs: 2_000 };

export class FilesError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

/** Network failures and 5xx/429 answers are the infrastructure's, not the step's: worth a retry. */
export const isTransient = (e: unknown) => e instanceof FilesError && (e.status === 0 || e.status >= 500 || e.status === 429);


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

  /** Sends one request; any answer but 2xx becomes a FilesError carrying the coordinator's message. */
  private async request(method: string, path: string, body?: BodyInit): Promise<Response> {
    const { coordinator, attempt, signal } = this.opts;
    const what = `${method} ${path}`;
    const headers: Record<string, string> = {
      authorization: `Bearer ${this.opts.credential()}`,
      "x-drover-agent": this.opts.agentId(),
      [PROTOCOL_HEADER]: String(PROTOCOL_VERSION),
    };
    if (body instanceof ReadableStream) headers["content-type"] = "application/zstd";
    let res: Response;
    try {
      const tls = this.opts.ca ? { ca: this.opts.ca } : undefined;
      const init = { method, headers, body, signal, duplex: "half", tls } as RequestInit;
      res = await fetch(`${coordinator()}/agent/v1/attempts/${encodeURIComponent(attempt)}/${path}`, init);
    } catch (e) {
      if (signal?.aborted) throw e;
      // no answer at all: status 0 marks a network failure
      throw new FilesError(0, "network", `${what} failed: ${(e as Error).message}`);
    }
    if (res.ok) return res;
    const text = await res.text();
    // The HTTP server refuses a body past the store's cap before any handler sees it, with no JSON.
    const fallback = res.status === 413 ? "larger than the coordinator's object size limit" : res.statusText;
    let error = { code: "http_error", message: text.slice(0, 500) || fallback };
    try {
      error = (JSON.parse(text) as { error: typeof error }).error ?? error;
    } catch {
      // not JSON (a proxy's page): keep the text
    }
    throw new FilesError(res.status, error.code, `${what} failed: ${error.message} (HTTP ${res.status})`);
  }

  private async json<T>(schema: z.ZodType<T>, res: Response): Promise<T> {
    return schema.parse(await res.json());
  }

  private read<T>(fn: () => Promise<T>): Promise<T> {
    return retry(IDEMPOTENT_READ, fn, { retryIf: isTransient, signal: this.opts.signal });
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
    const res = await this.request("PUT", `steps/${step}/workspace`, archive);
    return this.json(storedSchema, res);
  }

  /** The workspace archives of every ancestor task, in the order to extract them. */
  async workspaces(): Promise<WorkspaceArchive[]> {
    return this.read(async () => {
      const res = await this.request("GET", "workspaces");
      return (await this.json(workspacesSchema, res)).archives;
    });
  }

  /** A download as a stream, retried until it starts, not mid-stream. */
  private stream(path: string): Promise<ReadableStream<Uint8Array>> {
    return this.read(async () => {
      const res = await this.request("GET", path);
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
    const res = await this.request("PUT", `caches/${encodeURIComponent(key)}`, archive);
    return (await this.json(cacheStoredSchema, res)).stored;
  }

  /** Uploads one artifact file's raw bytes under its path relative to the work dir. */
  async putArtifact(path: string, content: Blob): Promise<z.infer<typeof artifactSchema>> {
    const res = await this.request("PUT", `artifacts/${encodePath(path)}`, content);
    return this.json(artifactSchema, res);
  }

  /** Sends a test report (JUnit XML or TAP) for the coordinator to parse; says how many cases it held. */
  async putTestReport(step: number, path: string, format: TestReportFormat, content: Blob): Promise<z.infer<typeof testReportSchema>> {
    const res = await this.request("PUT", `test-reports/${step}/${encodePath(path)}?format=${format}`, content);
    return this.json(testReportSchema, res);
  }
}
