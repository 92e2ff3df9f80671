import { expect, test } from "bun:test";
import { join } from "node:path";
import { resolveConfig } from "../../coordinator/config.ts";
import { scratchDirs } from "../helpers/scratch.ts";

const { root } = scratchDirs("drover-config-");
const config = (env: Record<string, string>, port?: number) =>
  resolveConfig({ dataDir: join(root, "data"), port, env: { DROVER_ADMIN_TOKEN: "a", DROVER_AGENT_TOKEN: "b", ...env } });

test("durations and sizes are accepted in either spelling", () => {
  const c = config({ DROVER_LEASE_TTL_MS: "15s", DROVER_HEARTBEAT_MS: "2000", DROVER_MAX_LOG_BYTES: "10M", DROVER_CANCEL_GRACE_MS: "0" });
  expect(c.leaseTtlMs).toBe(15_000);
  expect(c.heartbeatMs).toBe(2000);
  expect(c.maxLogBytes).toBe(10 * 1024 * 1024);
  expect(c.cancelGraceMs).toBe(0);
  expect(config({}).leaseTtlMs).toBe(15_000);
});

test("nonsense is refused at start, naming each setting", () => {
  const refused = (env: Record<string, string>, port?: number) => {
    try {
      config(env, port);
    } catch (e) {
      return (e as Error).message;
    }
    return "accepted";
  };
  expect(refused({ DROVER_LEASE_TTL_MS: "soon" })).toContain('DROVER_LEASE_TTL_MS: expected a positive number of milliseconds or a duration like 15s, 5m or 1h, got "soon"');
  expect(refused({ DROVER_LEASE_TTL_MS: "0" })).toContain("DROVER_LEASE_TTL_MS");
  expect(refused({ DROVER_MAX_OBJECT_BYTES: "lots" })).toContain("DROVER_MAX_OBJECT_BYTES");
  expect(refused({ PORT: "http" })).toContain("PORT");
  expect(refused({ DROVER_PUBLIC_URL: "not a url" })).toContain("DROVER_PUBLIC_URL");
  expect(refused({ DROVER_HEARTBEAT_MS: "20s", DROVER_LEASE_TTL_MS: "10s" })).toContain("DROVER_HEARTBEAT_MS: must be shorter than DROVER_LEASE_TTL_MS");
  expect(refused({}, Number.NaN)).toContain("--port");
  // a timer given more than 2^31 - 1 ms fires at once: a 30-day cancel grace would kill a cancelled step at once
  expect(refused({ DROVER_CANCEL_GRACE_MS: "30d" })).toContain('DROVER_CANCEL_GRACE_MS: at most 2147483647 ms (24.8 days, what a timer holds), got "30d"');
  expect(refused({ DROVER_QUEUE_TIMEOUT_MS: "24d" })).toBe("accepted");
  const both = refused({ DROVER_QUEUE_TIMEOUT_MS: "x", DROVER_ACCEPT_TIMEOUT_MS: "-5" });
  expect(both).toContain("DROVER_QUEUE_TIMEOUT_MS");
  expect(both).toContain("DROVER_ACCEPT_TIMEOUT_MS");
});

test("a node's advertised url comes from --advertise-url over DROVER_NODE_URL, and must be a URL", () => {
  const withFlag = (env: Record<string, string>, nodeUrl?: string) =>
    resolveConfig({ dataDir: join(root, "data"), nodeUrl, env: { DROVER_ADMIN_TOKEN: "a", DROVER_AGENT_TOKEN: "b", ...env } });
  expect(withFlag({}).nodeUrl).toBeUndefined();
  expect(withFlag({ DROVER_NODE_URL: "http://10.0.0.5:8080" }).nodeUrl).toBe("http://10.0.0.5:8080");
  expect(withFlag({ DROVER_NODE_URL: "http://10.0.0.5:8080" }, "http://10.0.0.6:8080").nodeUrl).toBe("http://10.0.0.6:8080");
  expect(() => withFlag({}, "node-a")).toThrow("DROVER_NODE_URL: expected a URL like http://10.0.0.5:8080");
});

test("DROVER_NATS_URL takes one or several nats:// or tls:// servers; the subject prefix must be NATS tokens", () => {
  expect(config({}).natsUrl).toBeUndefined();
  expect(config({}).natsPrefix).toBe("drover");
  expect(config({ DROVER_NATS_URL: "nats://10.0.0.5:4222" }).natsUrl).toBe("nats://10.0.0.5:4222");
  expect(config({ DROVER_NATS_URL: "nats://a:4222, tls://user:pw@b:4443" }).natsUrl).toBe("nats://a:4222, tls://user:pw@b:4443");
  expect(config({ DROVER_NATS_PREFIX: "ci.drover-2" }).natsPrefix).toBe("ci.drover-2");
  for (const bad of ["10.0.0.5:4222", "http://a:4222", "nats://a:4222,", "nats://"]) {
    expect(() => config({ DROVER_NATS_URL: bad })).toThrow("DROVER_NATS_URL: expected nats://host:port, or several separated by commas (tls:// for TLS)");
  }
  for (const bad of ["drover.", "a b", "drover.>", "*"]) {
    expect(() => config({ DROVER_NATS_PREFIX: bad })).toThrow("DROVER_NATS_PREFIX: expected NATS subject tokens like drover or ci.drover");
  }
});
