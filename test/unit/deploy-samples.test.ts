import { describe, expect, test } from "bun:test";
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { resolveConfig } from "../../coordinator/config.ts";
import { scratchDirs } from "../helpers/scratch.ts";

// The sample files of deploy/ (docs/deploy.md), checked by the tools that will read them: each tool must
// accept the sample and refuse a broken copy of it, so a check that passes everything would fail here.
const ROOT = resolve(import.meta.dir, "../..");
const dirs = scratchDirs("drover-deploy-");
const sample = (name: string) => readFileSync(join(ROOT, "deploy", name), "utf8");

function run(cmd: string[]): { code: number; out: string } {
  const p = Bun.spawnSync(cmd, { stdout: "pipe", stderr: "pipe" });
  return { code: p.exitCode, out: p.stdout.toString() + p.stderr.toString() };
}

/** A test that needs a machine package: skipped when it is missing, and said so in the output. */
function needs(binary: string, pkg: string) {
  const found = Bun.which(binary) ?? Bun.which(binary, { PATH: "/usr/sbin:/sbin" });
  if (!found) console.warn(`!! SKIPPING the ${binary} check of deploy/: no ${binary} (apt-get install -y ${pkg})`);
  return { found, when: test.skipIf(!found) };
}

const haproxy = needs("haproxy", "haproxy");
const nginx = needs("nginx", "nginx");
const systemd = needs("systemd-analyze", "systemd");

describe("the sample deployment files", () => {
  haproxy.when("deploy/haproxy.cfg passes haproxy -c, and a broken copy does not", () => {
    const ok = run([haproxy.found!, "-c", "-f", join(ROOT, "deploy/haproxy.cfg")]);
    expect(ok).toEqual({ code: 0, out: expect.stringContaining("Configuration file is valid") });
    const broken = join(dirs.fresh("haproxy"), "haproxy.cfg");
    writeFileSync(broken, sample("haproxy.cfg").replace("balance source", "balance sourcee"));
    expect(run([haproxy.found!, "-c", "-f", broken]).code).not.toBe(0);
  });

  nginx.when("deploy/nginx.conf passes nginx -t, and a broken copy does not", () => {
    // its own prefix and error log: nothing of the machine's nginx is read or written
    const check = (file: string) => run([nginx.found!, "-t", "-p", dirs.fresh("nginx"), "-e", "stderr", "-c", file]);
    expect(check(join(ROOT, "deploy/nginx.conf"))).toEqual({ code: 0, out: expect.stringContaining("test is successful") });
    const broken = join(dirs.fresh("nginx"), "nginx.conf");
    writeFileSync(broken, sample("nginx.conf").replace("proxy_buffering off;", "proxy_buffering of;"));
    expect(check(broken).code).not.toBe(0);
  });

  systemd.when("deploy/drover.service verifies clean and is hardened (systemd-analyze security --offline below 3)", () => {
    const dir = dirs.fresh("unit");
    // verify wants the program the unit starts to exist
    const program = join(dir, "bin", "drover");
    mkdirSync(join(dir, "bin"));
    writeFileSync(program, "#!/bin/sh\n");
    chmodSync(program, 0o755);
    const unit = join(dir, "drover.service");
    writeFileSync(unit, sample("drover.service").replaceAll("/usr/local/bin/drover", program));
    expect(run([systemd.found!, "verify", unit])).toEqual({ code: 0, out: "" });
    const security = run([systemd.found!, "security", "--offline=true", unit]).out;
    expect(Number(security.match(/Overall exposure level for drover\.service: ([\d.]+)/)?.[1])).toBeLessThan(3);
    writeFileSync(unit, sample("drover.service").replaceAll("/usr/local/bin/drover", program).replace("Type=exec", "Type=exce"));
    expect(run([systemd.found!, "verify", unit]).out).toContain("Failed to parse service type");
  });

  test("deploy/node.env is read by the coordinator as the cluster settings it shows", () => {
    const env: Record<string, string> = {};
    for (const line of sample("node.env").split("\n")) {
      const m = line.match(/^([A-Z_][A-Z0-9_]*)=(.*)$/);
      if (m) env[m[1]!] = m[2]!;
    }
    const config = resolveConfig({ env, dataDir: dirs.fresh("data") });
    expect(config).toMatchObject({
      host: "0.0.0.0",
      port: 8080,
      nodeUrl: "http://10.0.0.5:8080",
      publicUrl: "https://ci.example.com",
      dbUrl: "libsql://drover-db.internal:8080",
      dbAuthToken: env.DROVER_DB_AUTH_TOKEN,
      storage: "s3://drover?endpoint=https://s3.internal&region=us-east-1",
      natsUrl: "nats://10.0.0.4:4222",
      adminToken: env.DROVER_ADMIN_TOKEN,
      agentToken: env.DROVER_AGENT_TOKEN,
      secretKey: env.DROVER_SECRET_KEY,
    });
  });
});
