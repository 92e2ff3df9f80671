import { afterEach, describe, expect, test } from "bun:test";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { openObjectStore } from "../../coordinator/store/open.ts";
import { type Cluster, type RunView, startCluster } from "../helpers/cluster.ts";
import { waitFor } from "../helpers/processes.ts";
import { startS3rver } from "../helpers/s3rver.ts";

let clusters: Cluster[] = [];
async function cluster(env: Record<string, string> = {}): Promise<Cluster> {
  const c = await startCluster(env);
  clusters.push(c);
  await c.startAgent("s1");
  return c;
}
afterEach(async () => {
  for (const c of clusters) await c.stop();
  clusters = [];
});

// decompress: false shows the bytes as sent, so the test sees the gzip itself
const get = (c: Cluster, path: string, headers: Record<string, string> = {}) =>
  fetch(`${c.coordinator.url}${path}`, { headers: { authorization: "Bearer test-admin-token", ...headers }, decompress: false } as RequestInit);
/** drover_gc_removed_total for one collector, as /metrics exposes it; NaN if the series is missing. */
const gcMetric = async (c: Cluster, collector: string) => {
  const text = await (await fetch(`${c.coordinator.url}/metrics`)).text();
  return Number(text.match(new RegExp(`^drover_gc_removed_total\\{collector="${collector}"\\} (\\S+)$`, "m"))?.[1]);
};
const stepOf = (run: RunView, task: string) =>
  run.tasks.find((t) => t.name === task)!.attempts.at(-1)!.steps[0] as unknown as { logObject: string };

describe("step logs", () => {
  test("served gzip'd when the client accepts it, and capped with a plain note of what was dropped", async () => {
    const c = await cluster({ DROVER_MAX_LOG_BYTES: "1000" });
    const id = await c.submit("tasks:\n  big: { steps: [ { run: 'head -c 5000 /dev/zero | tr \"\\\\0\" a' } ] }\n");
    await c.waitRun(id);
    const res = await get(c, `/api/v1/runs/${id}/tasks/big/steps/0/log`, { "accept-encoding": "gzip" });
    expect(res.headers.get("content-encoding")).toBe("gzip");
    const text = new TextDecoder().decode(Bun.gunzipSync(new Uint8Array(await res.arrayBuffer())));
    expect(text.startsWith("a".repeat(1000))).toBe(true);
    expect(text.slice(1000)).toBe("\n[drover: log truncated at 1000 bytes; 4000 more bytes were dropped]\n");
    const plain = await get(c, `/api/v1/runs/${id}/tasks/big/steps/0/log`, { "accept-encoding": "identity" });
    expect(await plain.text()).toBe(text);
  });
});

describe("sharing and garbage collection", () => {
  test("a log shared by two runs survives the deletion of one and is gone after both and the collector's pass", async () => {
    const c = await cluster();
    const flag = join(c.dir, "flag");
    const id = await c.submit(`tasks:\n  a: { steps: [ { run: echo shared } ] }\n  b: { depends: [a], steps: [ { run: 'test -e ${flag}' } ] }\n`);
    const first = await c.waitRun(id);
    const sharedLog = stepOf(first, "a").logObject;
    const file = join(c.dir, "data", "objects", sharedLog);
    expect(existsSync(file)).toBe(true);
    await Bun.write(flag, "");
    const restarted = (await c.api<{ id: string }>("POST", `/api/v1/runs/${id}/restart`, { from: "failed" })).body.id;
    const second = await c.waitRun(restarted);
    expect(second.result).toBe("success");
    expect(stepOf(second, "a").logObject).toBe(sharedLog);
    const running = await c.submit("tasks:\n  s: { steps: [ { run: sleep 5 } ] }\n");
    expect((await c.api("DELETE", `/api/v1/runs/${running}`)).status).toBe(409);

    const del1 = await c.api<{ objectsKept: number }>("DELETE", `/api/v1/runs/${id}`);
    expect(del1.status).toBe(200);
    expect(del1.body.objectsKept).toBeGreaterThanOrEqual(1);
    expect(existsSync(file)).toBe(true);
    expect(await c.log(restarted, "a", 0)).toBe("shared\n");
    expect((await c.api("GET", `/api/v1/runs/${id}`)).status).toBe(404);

    // the last owner's deletion takes the shared log (and the rest of its objects) with it
    const del2 = await c.api<{ objectsDeleted: number; objectsKept: number }>("DELETE", `/api/v1/runs/${restarted}`);
    expect(del2.status).toBe(200);
    expect(del2.body.objectsDeleted).toBeGreaterThanOrEqual(1);
    expect(del2.body.objectsKept).toBe(0);
    const gc = await c.api<{ removed: Record<string, number> }>("POST", "/api/v1/gc");
    expect(gc.status).toBe(200);
    expect(existsSync(file)).toBe(false);
    // the pass's count is what the metric adds up (this coordinator's only pass)
    expect(await gcMetric(c, "unowned")).toBe(gc.body.removed.unowned!);
  });

  test("retention: expired logs are collected and counted", async () => {
    const c = await cluster({ DROVER_RETENTION_LOGS: "0s" });
    const id = await c.submit("tasks:\n  t: { steps: [ { run: echo old } ] }\n");
    const run = await c.waitRun(id);
    const file = join(c.dir, "data", "objects", stepOf(run, "t").logObject);
    expect(existsSync(file)).toBe(true);
    const gc = await c.api<{ removed: Record<string, number> }>("POST", "/api/v1/gc");
    expect(gc.body.removed.logs).toBeGreaterThanOrEqual(1);
    expect(existsSync(file)).toBe(false);
    expect(await gcMetric(c, "logs")).toBe(gc.body.removed.logs!);
  });
});

describe("S3 backend", () => {
  test("DROVER_STORAGE=s3://… puts step logs in the bucket", async () => {
    const s3 = await startS3rver("drover-e2e");
    try {
      const c = await cluster({ DROVER_STORAGE: s3.spec, AWS_ACCESS_KEY_ID: "S3RVER", AWS_SECRET_ACCESS_KEY: "S3RVER" });
      const id = await c.submit("tasks:\n  t: { steps: [ { run: 'seq 1 20000' } ] }\n");
      const run = await c.waitRun(id);
      expect(run.result).toBe("success");
      const expected = Bun.spawnSync(["seq", "1", "20000"]).stdout.toString();
      expect(await c.log(id, "t", 0)).toBe(expected);
      const store = openObjectStore(s3.spec);
      const body = await store.get(stepOf(run, "t").logObject);
      expect(await new Response(body).text()).toBe(expected);
    } finally {
      await s3.stop();
    }
  });
});


describe("workspaces kept for debugging", () => {
  test("the latest failed run's workspaces outlive their retention until a newer run of the group finishes", async () => {
    const c = await cluster({ DROVER_RETENTION_WORKSPACES: "0s" });
    const flag = join(c.dir, "pass");
    const pipeline = `tasks:\n  t:\n    steps:\n      - run: 'echo data > out.txt'\n      - save_to_workspace: { paths: [out.txt] }\n      - run: 'test -e ${flag}'\n`;
    const failed = await c.waitRun(await c.submit(pipeline, "dbg"));
    expect(failed.result).toBe("failed");
    const archive = (failed.tasks[0]!.attempts[0]!.steps[1] as unknown as { archiveObject: string }).archiveObject;
    const file = join(c.dir, "data", "objects", archive);
    await c.api("POST", "/api/v1/gc");
    expect(existsSync(file)).toBe(true);
    await Bun.write(flag, "");
    expect((await c.waitRun(await c.submit(pipeline, "dbg"))).result).toBe("success");
    const gc = await c.api<{ removed: Record<string, number> }>("POST", "/api/v1/gc");
    expect(gc.body.removed.workspaces).toBeGreaterThanOrEqual(1);
    expect(existsSync(file)).toBe(false);
  });
});

describe("slots", () => {
  test("an attempt's slot frees once its own log and archive are stored, while its run goes on", async () => {
    const c = await startCluster();
    clusters.push(c);
    await c.startAgent("only", ["--capacity", "1"]);
    const first = await c.submit(`tasks:
  build: { steps: [ { run: 'mkdir -p out && echo built | tee out/f' }, { save_to_workspace: { paths: ['out/**'] } } ] }
  deploy: { depends: [build], approval: { min_approvers: 1 }, steps: [ { run: echo deployed } ] }
`);
    const view = async (id: string) => (await c.api<RunView>("GET", `/api/v1/runs/${id}`)).body;
    const task = (run: RunView, name: string) => run.tasks.find((t) => t.name === name)!;
    await waitFor("deploy to wait for its approval", async () => (task(await view(first), "deploy").status === "waiting_approval" ? true : undefined), 30_000);
    // the only slot there is: held until the run ended, this run would wait for the approval
    const second = await c.submit("tasks:\n  other: { steps: [ { run: echo other } ] }\n");
    expect((await c.waitRun(second)).result).toBe("success");
    const run = await view(first);
    expect(run.phase).toBe("running");
    const [log, archive] = task(run, "build").attempts[0]!.steps as unknown as { logObject: string | null; archiveObject: string | null }[];
    expect(log!.logObject).toBeTruthy();
    expect(archive!.archiveObject).toBeTruthy();
  });
});
