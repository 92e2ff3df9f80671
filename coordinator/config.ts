import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
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
  /** where scripts/build-agent put the agent binaries served under /download */
  distDir: string;
  retention: Retention;
  /** base64 AES-256 key for secrets at rest; generated into the data dir when absent */
  secretKey?: string;
  gcIntervalMs: number;
}

export interface ConfigInput {
  port?: number;
  host?: string;
  dataDir?: string;
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

const numberFrom = (value: string | undefined, fallback: number) => (value ? Number(value) : fallback);

export function resolveConfig(input: ConfigInput = {}): CoordinatorConfig {
  const env = input.env ?? process.env;
  const dataDir = resolve(input.dataDir ?? env.DROVER_DATA ?? "./data");
  mkdirSync(dataDir, { recursive: true });
  return {
    host: input.host ?? env.DROVER_HOST ?? "127.0.0.1",
    port: input.port ?? numberFrom(env.PORT, 8080),
    dataDir,
    dbUrl: env.DROVER_DB_URL ?? `file:${join(dataDir, "drover.db")}`,
    dbAuthToken: env.DROVER_DB_AUTH_TOKEN,
    storage: env.DROVER_STORAGE ?? `posix:${join(dataDir, "objects")}`,
    fsync: !input.noFsync,
    adminToken: persistentToken(dataDir, "admin", env.DROVER_ADMIN_TOKEN),
    agentToken: persistentToken(dataDir, "agent", env.DROVER_AGENT_TOKEN),
    heartbeatMs: numberFrom(env.DROVER_HEARTBEAT_MS, 5000),
    leaseTtlMs: numberFrom(env.DROVER_LEASE_TTL_MS, 15000),
    reconnectGraceMs: numberFrom(env.DROVER_RECONNECT_GRACE_MS, 15000),
    acceptTimeoutMs: numberFrom(env.DROVER_ACCEPT_TIMEOUT_MS, 5000),
    cancelGraceMs: numberFrom(env.DROVER_CANCEL_GRACE_MS, 10000),
    queueTimeoutMs: numberFrom(env.DROVER_QUEUE_TIMEOUT_MS, 24 * 3600 * 1000),
    maxObjectBytes: numberFrom(env.DROVER_MAX_OBJECT_BYTES, 1024 ** 3),
    maxLogBytes: numberFrom(env.DROVER_MAX_LOG_BYTES, 100 * 1024 * 1024),
    publicUrl: env.DROVER_PUBLIC_URL,
    retention: retentionFromEnv(env),
    secretKey: env.DROVER_SECRET_KEY,
    gcIntervalMs: numberFrom(env.DROVER_GC_INTERVAL_MS, 10 * 60 * 1000),
    distDir: resolve(env.DROVER_AGENT_DIST ?? join(import.meta.dir, "../dist")),
  };
}
