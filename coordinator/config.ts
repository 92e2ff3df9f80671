import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { z } from "zod";
import { durationToMs, MAX_TIMER_MS, memoryToBytes, settingToMs } from "../shared/pipeline/index.ts";
import { type Retention, retentionFromEnv } from "./gc/retention.ts";

export interface CoordinatorConfig {
  host: string;
  port: number;
  dataDir: string;
  dbUrl: string;
  dbAuthToken?: string;
  storage: string;
  fsync: boolean;
  adminToken: string;
  agentToken: string;
  heartbeatMs: number;
  leaseTtlMs: number;
  /** a closed (not silent) connection gets this long to come back before its lease is cut short */
  reconnectGraceMs: number;
  /** an assigned attempt not accepted within this goes back to the queue */
  acceptTimeoutMs: number;
  cancelGraceMs: number;
  /** a queued attempt no agent took in this long fails */
  queueTimeoutMs: number;
  maxLogBytes: number;
  /** largest archive or artifact accepted when its size is not known up front */
  maxObjectBytes: number;
  publicUrl?: string;
  /** where the other nodes and agents reach this node (--advertise-url); default the listening address */
  nodeUrl?: string;
  /** the NATS servers carrying hints between nodes (DROVER_NATS_URL); without, hints stay on this node */
  natsUrl?: string;
  /** NATS subjects are `<prefix>.hint.<kind>` */
  natsPrefix: string;
  /** where scripts/build-agent put the agent binaries served under /download */
  distDir: string;
  retention: Retention;
  /** base64 AES-256 key for secrets at rest; generated into the data dir when absent */
  secretKey?: string;
  gcIntervalMs: number;
  /** the certificate and key (PEM) to serve HTTPS and WSS with; plain HTTP without */
  tls?: { cert: string; key: string };
}

export interface ConfigInput {
  port?: number;
  host?: string;
  dataDir?: string;
  /** --advertise-url, over DROVER_NODE_URL */
  nodeUrl?: string;
  noFsync?: boolean;
  env?: Record<string, string | undefined>;
}

/** Tokens are generated once and kept in the data dir, so a second start reuses them. */
function persistentToken(dataDir: string, name: string, given: string | undefined): string {
  if (given) return given;
  const file = join(dataDir, `${name}.token`);
  if (existsSync(file)) return readFileSync(file, "utf8").trim();
  const token = `${name === "admin" ? "drv_admin_" : "drv_agent_"}${randomBytes(24).toString("base64url")}`;
  writeFileSync(file, `${token}\n`, { mode: 0o600 });
  return token;
}

/** A setting in milliseconds: a plain number is milliseconds, or a duration like `15s`, `5m`, `1h`. */
const duration = (fallback: number, { zero = false } = {}) =>
  z
    .string()
    .optional()
    .transform((raw, ctx) => {
      if (raw === undefined || raw.trim() === "") return fallback;
      const ms = settingToMs(raw);
      if (ms === null || ms < 0 || (ms === 0 && !zero)) {
        const what = zero ? "milliseconds" : "a positive number of milliseconds";
        ctx.addIssue({ code: "custom", message: `expected ${what} or a duration like 15s, 5m or 1h, got "${raw}"` });
        return z.NEVER;
      }
      if (ms > MAX_TIMER_MS) {
        ctx.addIssue({ code: "custom", message: `at most ${MAX_TIMER_MS} ms (24.8 days, what a timer holds), got "${raw}"` });
        return z.NEVER;
      }
      return ms;
    });

/** A setting in bytes: a plain number, or a size like `512M`, `1G`. */
const size = (fallback: number) =>
  z
    .string()
    .optional()
    .transform((raw, ctx) => {
      if (raw === undefined || raw.trim() === "") return fallback;
      const bytes = memoryToBytes(raw);
      if (bytes === null) {
        ctx.addIssue({ code: "custom", message: `expected bytes or a size like 512M or 1G, got "${raw}"` });
        return z.NEVER;
      }
      return bytes;
    });

const port = z.coerce
  .number({ error: "expected a port number" })
  .int("expected a port number")
  .min(0, "expected a port from 0 to 65535")
  .max(65535, "expected a port from 0 to 65535");

const text = z.string().optional();

/** One NATS server URL or several separated by commas, each nats:// or tls:// with a host. */
const natsUrl = text.refine(
  (raw) =>
    raw === undefined ||
    raw.split(",").every((one) => {
      try {
        const url = new URL(one.trim());
        return ["nats:", "tls:"].includes(url.protocol) && url.hostname !== "";
      } catch {
        return false;
      }
    }),
  "expected nats://host:port, or several separated by commas (tls:// for TLS)",
);
const retention = text.refine((raw) => raw === undefined || durationToMs(raw) !== null, "expected a duration like 30d, 12h or 0s");

/**
 * Every setting read from the environment, checked at start: a bad one stops the coordinator, naming it.
 * Each says what it does (`.meta`): docs/operations.md's table is generated from this (config-table.ts).
 */
export const EnvSettings = z
  .object({
    PORT: port.default(8080).meta({ description: "the HTTP port (`--port`)" }),
    DROVER_HOST: text.meta({ description: "the address to listen on (`--host`); default `127.0.0.1`" }),
    DROVER_DATA: text.meta({ description: "the data dir (`--data`): database, objects, tokens; default `./data`" }),
    DROVER_DB_URL: text.meta({ description: "the libSQL database: `file:PATH` or `libsql://HOST`; default `file:DATA/drover.db`" }),
    DROVER_DB_AUTH_TOKEN: text.meta({ description: "the token of a remote libSQL server" }),
    DROVER_STORAGE: text.meta({ description: "object storage: `posix:DIR` or `s3://bucket?endpoint=…&region=…`; default `posix:DATA/objects`" }),
    DROVER_ADMIN_TOKEN: text.meta({ description: "the admin's bearer token; generated into `DATA/admin.token` when absent" }),
    DROVER_AGENT_TOKEN: text.meta({ description: "the fleet-wide agent registration token; generated into `DATA/agent.token` when absent" }),
    DROVER_PUBLIC_URL: z
      .url({ error: "expected a URL like https://ci.example.com" })
      .optional()
      .meta({ description: "the address users and agents reach, for links and install scripts; default the listening address" }),
    DROVER_NODE_URL: z
      .url({ error: "expected a URL like http://10.0.0.5:8080" })
      .optional()
      .meta({ description: "where the other nodes and agents reach this node (`--advertise-url`), listed by `GET /api/v1/cluster`; default the listening address" }),
    DROVER_NATS_URL: natsUrl.meta({
      description: "NATS servers (`nats://host:4222`, several separated by commas) carrying hints between coordinator nodes; without, nodes of a cluster poll the database every second",
    }),
    DROVER_NATS_PREFIX: z
      .string()
      .regex(/^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/, "expected NATS subject tokens like drover or ci.drover")
      .default("drover")
      .meta({ description: "the prefix of the NATS subjects hints are sent on (`PREFIX.hint.KIND`), to share one NATS between clusters" }),
    DROVER_SECRET_KEY: text.meta({ description: "base64 AES-256 key for secrets at rest; generated into `DATA/secret.key` when absent" }),
    DROVER_AGENT_DIST: text.meta({ description: "where the binaries served under `/download` are; default the checkout's `dist/`" }),
    DROVER_HEARTBEAT_MS: duration(5000).meta({ description: "how often agents send a heartbeat" }),
    DROVER_LEASE_TTL_MS: duration(15000).meta({ description: "how long an agent's lease lasts without a heartbeat" }),
    // shorter than the lease by more than a heartbeat: a dead agent's record goes before its watchdog ends its steps
    DROVER_RECONNECT_GRACE_MS: duration(8000, { zero: true }).meta({ description: "how long a closed (not silent) connection has to come back" }),
    DROVER_ACCEPT_TIMEOUT_MS: duration(5000).meta({ description: "an assigned attempt not accepted within this goes back to the queue" }),
    DROVER_CANCEL_GRACE_MS: duration(10000, { zero: true }).meta({ description: "between SIGTERM and SIGKILL when a step is cancelled" }),
    DROVER_QUEUE_TIMEOUT_MS: duration(24 * 3600 * 1000).meta({ description: "a queued attempt no agent took in this long fails" }),
    DROVER_GC_INTERVAL_MS: duration(10 * 60 * 1000).meta({ description: "how often the garbage collectors run" }),
    DROVER_MAX_OBJECT_BYTES: size(1024 ** 3).meta({ description: "the largest archive or artifact accepted when its size is not known up front" }),
    DROVER_MAX_LOG_BYTES: size(100 * 1024 * 1024).meta({ description: "the largest step log kept; output past it is dropped" }),
    DROVER_RETENTION_LOGS: retention.meta({ description: "how long step logs are kept once no run owns them; default `30d`" }),
    DROVER_RETENTION_WORKSPACES: retention.meta({ description: "the same for workspace archives; default `7d`" }),
    DROVER_RETENTION_CACHES: retention.meta({ description: "the same for caches; default `7d`" }),
    DROVER_RETENTION_ARTIFACTS: retention.meta({ description: "the same for artifacts; default `30d`" }),
    DROVER_RETENTION_UNOWNED: retention.meta({ description: "objects owned by nothing are deleted after this; default `12h`" }),
  })
  .refine((s) => s.DROVER_HEARTBEAT_MS < s.DROVER_LEASE_TTL_MS, {
    path: ["DROVER_HEARTBEAT_MS"],
    message: "must be shorter than DROVER_LEASE_TTL_MS, or every lease lapses between two heartbeats",
  });

export class ConfigError extends Error {}

function readSettings(env: Record<string, string | undefined>, givenPort: number | undefined) {
  const parsed = EnvSettings.safeParse(env);
  const problems = parsed.success ? [] : parsed.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`);
  if (givenPort !== undefined && !port.safeParse(givenPort).success) problems.push(`--port: expected a port from 0 to 65535`);
  if (problems.length > 0 || !parsed.success) throw new ConfigError(`invalid settings:\n  ${problems.join("\n  ")}`);
  return parsed.data;
}

export function resolveConfig(input: ConfigInput = {}): CoordinatorConfig {
  const env = input.env ?? process.env;
  // --advertise-url is checked as DROVER_NODE_URL is
  const settings = readSettings(input.nodeUrl === undefined ? env : { ...env, DROVER_NODE_URL: input.nodeUrl }, input.port);
  const dataDir = resolve(input.dataDir ?? env.DROVER_DATA ?? "./data");
  mkdirSync(dataDir, { recursive: true });
  return {
    host: input.host ?? env.DROVER_HOST ?? "127.0.0.1",
    port: input.port ?? settings.PORT,
    dataDir,
    dbUrl: env.DROVER_DB_URL ?? `file:${join(dataDir, "drover.db")}`,
    dbAuthToken: env.DROVER_DB_AUTH_TOKEN,
    storage: env.DROVER_STORAGE ?? `posix:${join(dataDir, "objects")}`,
    fsync: !input.noFsync,
    adminToken: persistentToken(dataDir, "admin", env.DROVER_ADMIN_TOKEN),
    agentToken: persistentToken(dataDir, "agent", env.DROVER_AGENT_TOKEN),
    heartbeatMs: settings.DROVER_HEARTBEAT_MS,
    leaseTtlMs: settings.DROVER_LEASE_TTL_MS,
    reconnectGraceMs: settings.DROVER_RECONNECT_GRACE_MS,
    acceptTimeoutMs: settings.DROVER_ACCEPT_TIMEOUT_MS,
    cancelGraceMs: settings.DROVER_CANCEL_GRACE_MS,
    queueTimeoutMs: settings.DROVER_QUEUE_TIMEOUT_MS,
    maxObjectBytes: settings.DROVER_MAX_OBJECT_BYTES,
    maxLogBytes: settings.DROVER_MAX_LOG_BYTES,
    publicUrl: settings.DROVER_PUBLIC_URL,
    nodeUrl: settings.DROVER_NODE_URL,
    natsUrl: settings.DROVER_NATS_URL,
    natsPrefix: settings.DROVER_NATS_PREFIX,
    retention: retentionFromEnv(env),
    secretKey: env.DROVER_SECRET_KEY,
    gcIntervalMs: settings.DROVER_GC_INTERVAL_MS,
    distDir: resolve(env.DROVER_AGENT_DIST ?? join(import.meta.dir, "../dist")),
  };
}
