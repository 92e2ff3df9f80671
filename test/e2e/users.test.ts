import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createHmac } from "node:crypto";
import { join } from "node:path";
import { AGENT_TOKEN, type Cluster, ROOT, startCluster } from "../helpers/cluster.ts";
import { captureOutput, spawnTracked, waitFor } from "../helpers/processes.ts";

let cluster: Cluster;
const tokens: Record<string, string> = {};

beforeAll(async () => {
  cluster = await startCluster();
  await cluster.startAgent("u1");
  for (const role of ["member", "viewer"]) {
    const res = await cluster.api<{ token: string }>("POST", "/api/v1/tokens", { user: `${role}-user`, role });
    tokens[role] = res.body.token;
  }
  tokens.admin = "test-admin-token";
  tokens.agent = AGENT_TOKEN;
});
afterAll(() => cluster.stop());

describe("roles", () => {
  // every endpoint with the lowest role it needs; each token below that role must be refused with 403
  const endpoints: [string, string, "viewer" | "member" | "admin", unknown?][] = [
    ["GET", "/api/v1/runs", "viewer"],
    ["GET", "/api/v1/agents", "viewer"],
    ["GET", "/api/v1/attempts", "viewer"],
    ["GET", "/api/v1/groups", "viewer"],
    ["POST", "/api/v1/runs", "member", { pipeline: "tasks:\n  t: { steps: [ { run: 'true' } ] }\n" }],
    ["POST", "/api/v1/runs/x/cancel", "member"],
    ["POST", "/api/v1/runs/x/restart", "member", { from: "scratch" }],
    ["POST", "/api/v1/runs/x/tasks/t/approve", "member"],
    ["POST", "/api/v1/schedules", "member", {}],
    ["GET", "/api/v1/groups/g/values", "member"],
    ["PUT", "/api/v1/groups/g/secrets/K", "admin", { value: "v" }],
    ["PUT", "/api/v1/groups/g", "admin", {}],
    ["POST", "/api/v1/tokens", "admin", { user: "u", role: "viewer" }],
    ["GET", "/api/v1/tokens", "admin"],
    ["POST", "/api/v1/agent-tokens", "admin", { group: "g" }],
    ["POST", "/api/v1/agents/x/drain", "admin"],
    ["DELETE", "/api/v1/agents/x", "admin"],
    ["DELETE", "/api/v1/runs/x", "admin"],
    ["POST", "/api/v1/gc", "admin"],
  ];
  const below = { viewer: ["agent"], member: ["agent", "viewer"], admin: ["agent", "viewer", "member"] };
  for (const [method, path, min, body] of endpoints) {
    test(`${method} ${path} refuses tokens below ${min}`, async () => {
      for (const who of below[min]) {
        const res = await cluster.api<{ error: { code: string } }>(method, path, body, tokens[who]);
        expect({ who, status: res.status }).toEqual({ who, status: 403 });
        expect(res.body.error.code).toBe("forbidden");
      }
      const allowed = await cluster.api(method, path, body, tokens[min]);
      expect(allowed.status).not.toBe(403);
      expect(allowed.status).not.toBe(401);
    });
  }

  test("a revoked token is refused", async () => {
    const created = await cluster.api<{ id: string; token: string }>("POST", "/api/v1/tokens", { user: "temp", role: "viewer" });
    expect((await cluster.api("GET", "/api/v1/runs", undefined, created.body.token)).status).toBe(200);
    expect((await cluster.api("DELETE", `/api/v1/tokens/${created.body.id}`)).status).toBe(200);
    expect((await cluster.api("GET", "/api/v1/runs", undefined, created.body.token)).status).toBe(401);
    const listed = await cluster.api<{ tokens: Record<string, unknown>[] }>("GET", "/api/v1/tokens");
    expect(JSON.stringify(listed.body)).not.toContain(created.body.token);
  });
});

describe("secrets and variables", () => {
  test("secrets are encrypted at rest, injected, redacted and never returned", async () => {
    const secret = "sup3r-s3cret-value";
    expect((await cluster.api("PUT", "/api/v1/groups/sec/secrets/DEPLOY_KEY_MATERIAL", { value: secret })).status).toBe(200);
    expect((await cluster.api("PUT", "/api/v1/groups/sec/variables/REGION", { value: "eu-west" })).status).toBe(200);
    const listed = await cluster.api<{ values: { name: string; value: string | null; secret: boolean }[] }>("GET", "/api/v1/groups/sec/values");
    expect(listed.body.values).toEqual([
      expect.objectContaining({ name: "DEPLOY_KEY_MATERIAL", secret: true, value: null }),
      expect.objectContaining({ name: "REGION", secret: false, value: "eu-west" }),
    ]);
    const id = await cluster.submit(
      "tasks:\n  t: { steps: [ { run: 'echo \"key=$DEPLOY_KEY_MATERIAL region=$REGION\"; test ${#DEPLOY_KEY_MATERIAL} = 18' } ] }\n",
      "sec",
    );
    expect((await cluster.waitRun(id)).result).toBe("success");
    expect(await cluster.log(id, "t", 0)).toBe("key=[REDACTED] region=eu-west\n");
    const db = Bun.spawnSync(["bash", "-c", `cat ${join(cluster.dir, "data")}/drover.db* | grep -c '${secret}' || true`]);
    expect(db.stdout.toString().trim()).toBe("0");
    const run = await cluster.api("GET", `/api/v1/runs/${id}`);
    expect(JSON.stringify(run.body)).not.toContain(secret);
  });

  test("drover secret set stores a secret from stdin", async () => {
    const cli = spawnTracked(["bun", join(ROOT, "cli/main.ts"), "secret", "set", "clig", "API_TOKEN"], {
      env: { DROVER_URL: cluster.coordinator.url, DROVER_TOKEN: "test-admin-token" },
      stdin: "from-stdin-123\n",
    });
    expect(await cli.exited).toBe(0);
    const listed = await cluster.api<{ values: { name: string; secret: boolean }[] }>("GET", "/api/v1/groups/clig/values");
    expect(listed.body.values).toEqual([expect.objectContaining({ name: "API_TOKEN", secret: true })]);
  });
});

describe("agent registration tokens", () => {
  test("a group token registers agents of its group only", async () => {
    const created = await cluster.api<{ token: string }>("POST", "/api/v1/agent-tokens", { group: "builders" });
    expect(created.status).toBe(201);
    const start = (group: string) => {
      const proc = spawnTracked(
        ["bun", "agent/main.ts", "--coordinator", cluster.coordinator.url, "--token", created.body.token, "--group", group, "--name", `reg-${group}`, "--work-dir", join(cluster.dir, `reg-${group}`)],
        { cwd: ROOT },
      );
      return { proc, err: captureOutput(proc.stderr) };
    };
    const good = start("builders");
    await waitFor("the builder to register", () => good.err.text().includes("registered as"));
    const bad = start("others");
    expect(await bad.proc.exited).toBe(1);
    expect(bad.err.text()).toContain("this registration token is for group builders");
    good.proc.kill("SIGTERM");
    await good.proc.exited;
  });
});

describe("notifications and metrics", () => {
  test("a finished run is posted to the group's webhook, signed and retried until it is taken", async () => {
    const received: { body: string; signature: string | null }[] = [];
    let calls = 0;
    const receiver = Bun.serve({
      port: 0,
      hostname: "127.0.0.1",
      async fetch(req) {
        calls++;
        if (calls <= 2) return new Response("not yet", { status: 503 });
        received.push({ body: await req.text(), signature: req.headers.get("x-drover-signature-256") });
        return new Response("ok");
      },
    });
    try {
      const secret = "notify-secret-1";
      const set = await cluster.api("PUT", "/api/v1/groups/notified", { notify: { url: `http://127.0.0.1:${receiver.port}/hook`, secret } });
      expect(set.status).toBe(200);
      const id = await cluster.submit("tasks:\n  t: { steps: [ { run: 'true' } ] }\n", "notified");
      await cluster.waitRun(id);
      await waitFor("the notice to arrive", () => received.length === 1, 20_000);
      const notice = JSON.parse(received[0]!.body) as { event: string; run: { id: string; result: string } };
      expect(notice).toMatchObject({ event: "run.finished", run: { id, result: "success" } });
      expect(received[0]!.signature).toBe(`sha256=${createHmac("sha256", secret).update(received[0]!.body).digest("hex")}`);
      expect(calls).toBe(3);
    } finally {
      receiver.stop(true);
    }
  });

  test("/metrics exposes runs, agents, queue and latency figures, and they count a run's work", async () => {
    const scrape = async () => {
      const res = await fetch(`${cluster.coordinator.url}/metrics`);
      expect(res.status).toBe(200);
      return res.text();
    };
    /** The value of one series, by its name and labels exactly as exposed; NaN (failing any comparison) if it is not exposed. */
    const value = (text: string, series: string) => {
      const line = text.split("\n").find((l) => l.startsWith(`${series} `));
      return line === undefined ? Number.NaN : Number(line.slice(series.length + 1));
    };
    const figures = (text: string) => ({
      finishedRuns: value(text, 'drover_runs{phase="finished"}'),
      queueWaits: value(text, "drover_queue_wait_seconds_count"),
      dispatches: value(text, "drover_dispatch_latency_seconds_count"),
      logBytes: value(text, "drover_log_bytes_total"),
    });
    const before = figures(await scrape());
    before.finishedRuns ||= 0; // no series for a phase until some run is in it
    const id = await cluster.submit("tasks:\n  t: { steps: [ { run: 'echo metered' } ] }\n");
    expect((await cluster.waitRun(id)).result).toBe("success");
    const text = await scrape();
    for (const name of ["drover_runs{phase=", "drover_agents{state=", "drover_queue_length", "drover_queue_wait_seconds_bucket", "drover_dispatch_latency_seconds_bucket", "drover_log_bytes_total"]) {
      expect(text).toContain(name);
    }
    const after = figures(text);
    // the run just finished was counted: finished, waited in the queue once, dispatched once, and its 8 log bytes stored
    expect(after.finishedRuns - before.finishedRuns).toBeGreaterThanOrEqual(1);
    expect(after.queueWaits - before.queueWaits).toBeGreaterThanOrEqual(1);
    expect(after.dispatches - before.dispatches).toBeGreaterThanOrEqual(1);
    expect(after.logBytes - before.logBytes).toBeGreaterThanOrEqual("metered\n".length);
    expect(value(text, 'drover_agents{state="online"}')).toBeGreaterThanOrEqual(1);
    // nothing is left waiting for an agent once every run submitted here has ended
    await waitFor("the queue to be empty", async () => value(await scrape(), "drover_queue_length") === 0);
  });
});

describe("web UI without a browser", () => {
  test("an anonymous visit to / is sent to the login page, and the redirect's body links there too", async () => {
    const res = await fetch(`${cluster.coordinator.url}/`, { redirect: "manual" });
    expect([res.status, res.headers.get("location")]).toEqual([303, "/login?next=%2F"]);
    const body = await res.text();
    expect(body).toContain("<html");
    expect(body).toContain('<a href="/login?next=%2F">');
    // a refused login goes back to the form; the link in the note is escaped like any other text
    const refused = await fetch(`${cluster.coordinator.url}/login`, {
      method: "POST",
      redirect: "manual",
      headers: { origin: cluster.coordinator.url },
      body: new URLSearchParams({ token: "not-a-token", next: "/agents" }),
    });
    expect([refused.status, refused.headers.get("location")]).toEqual([303, "/login?next=%2Fagents&error=invalid"]);
    expect(await refused.text()).toContain('href="/login?next=%2Fagents&amp;error=invalid"');
    const page = await fetch(`${cluster.coordinator.url}/`);
    expect(page.url).toEndWith("/login?next=%2F");
    expect(await page.text()).toContain('name="token"');
  });
});
