import { afterAll, beforeAll, expect, setDefaultTimeout, test } from "bun:test";
import { Database } from "bun:sqlite";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { openObjectStore } from "../../coordinator/store/open.ts";
import { PROTOCOL_HEADER, PROTOCOL_VERSION } from "../../shared/protocol/index.ts";
import { type Cluster, type RunView, startCluster } from "../helpers/cluster.ts";
import { killGroup, waitFor } from "../helpers/processes.ts";
import { type S3rverHandle, startS3rver } from "../helpers/s3rver.ts";

// With DROVER_STORAGE=s3://…, agents move workspaces, caches and artifacts straight to and from the
// bucket by presigned URLs; the coordinator only signs and records. 8 MiB parts: a 110 MB archive is 14.
setDefaultTimeout(120_000);
let s3: S3rverHandle;
let c: Cluster;
let spec: string;
beforeAll(async () => {
  s3 = await startS3rver("drover-direct-e2e");
  spec = `${s3.spec}&partMiB=8`;
  c = await startCluster({
    DROVER_STORAGE: spec,
    AWS_ACCESS_KEY_ID: "S3RVER",
    AWS_SECRET_ACCESS_KEY: "S3RVER",
    DROVER_LEASE_TTL_MS: "5000",
    DROVER_HEARTBEAT_MS: "500",
  });
});
afterAll(async () => {
  await c?.stop();
  await s3?.stop();
});

/** One series of the coordinator's /metrics, e.g. drover_archive_bytes_proxied_total{direction="up"}. */
async function metric(cluster: Cluster, name: string, direction: "up" | "down"): Promise<number> {
  const text = await (await fetch(`${cluster.coordinator.url}/metrics`)).text();
  return Number(text.match(new RegExp(`^${name}\\{direction="${direction}"\\} (\\S+)$`, "m"))?.[1]);
}
const proxied = (cluster: Cluster, direction: "up" | "down") => metric(cluster, "drover_archive_bytes_proxied_total", direction);
const direct = (cluster: Cluster, direction: "up" | "down") => metric(cluster, "drover_archive_bytes_direct_total", direction);

const pending = async (prefix: string) => Array.fromAsync(openObjectStore(spec).direct!.pendingUploads(prefix));
const objects = async (prefix: string) => Array.fromAsync(openObjectStore(spec).list(prefix));
type AttemptView = RunView["tasks"][number]["attempts"][number] & { id: string };
const attemptsOf = async (run: string, task: string) =>
  (await c.api<RunView>("GET", `/api/v1/runs/${run}`)).body.tasks.find((t) => t.name === task)?.attempts as AttemptView[] | undefined;

/** Peak and current resident memory of a process, in MiB, from /proc. */
function memoryMiB(pid: number): { peak: number; now: number } {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const kib = (field: string) => Number(status.match(new RegExp(`^${field}:\\s+(\\d+) kB$`, "m"))?.[1]) / 1024;
  return { peak: kib("VmHWM"), now: kib("VmRSS") };
}

test("a workspace, a cache and artifacts go to the bucket and back by presigned URLs: the coordinator never carries their bytes", async () => {
  // no kept copies: the downstream task downloads the workspace archive
  await c.startAgent("d1", ["--keep-workspaces", "0", "--label", "who=d1"]);
  const id = await c.submit(`tasks:
  build:
    labels: { who: d1 }
    steps:
      - run: mkdir -p out deps cov && head -c 3000000 /dev/urandom > out/blob && echo v1 > deps.lock && echo cached > deps/lib.txt && echo '<html>' > cov/index.html
      - save_to_workspace: { paths: ['out/**'] }
      - save_cache: { key: 'deps-{{ checksum "deps.lock" }}', paths: [deps] }
      - save_artifact: { paths: ['cov/**', out/blob] }
      - run: sha256sum out/blob | cut -c1-64
  use:
    depends: [build]
    labels: { who: d1 }
    steps:
      - restore_workspace: {}
      - restore_cache: { keys: ['deps-'] }
      - run: sha256sum out/blob | cut -c1-64 && cat deps/lib.txt
`);
  const run = await c.waitRun(id, 60_000);
  expect(run.result).toBe("success");
  const sha = (await c.log(id, "build", 4)).trim();
  expect(await c.log(id, "use", 2)).toBe(`${sha}\ncached\n`);
  expect(await c.log(id, "use", 0)).toMatch(/^restored the workspace of build: 1 file \(.+ compressed\)\n$/);
  expect(await c.log(id, "use", 1)).toMatch(/^restored cache deps-[0-9a-f]{64} \(.+, newest for prefix deps-\): 1 file\n$/);

  // every byte went between the agent and the bucket; none through the coordinator
  expect(await proxied(c, "up")).toBe(0);
  expect(await proxied(c, "down")).toBe(0);
  expect(await direct(c, "up")).toBeGreaterThan(2 * 3_000_000);
  expect(await direct(c, "down")).toBeGreaterThan(3_000_000);
  // recorded as today: the objects are in the bucket, the artifacts listed with the agent's sha256
  expect((await objects(`workspaces/${id}/`)).length).toBe(1);
  expect((await objects("caches/")).length).toBe(1);
  const listed = await c.api<{ artifacts: { path: string; size: number; sha256: string }[] }>("GET", `/api/v1/runs/${id}/artifacts`);
  expect(listed.body.artifacts.map(({ path, size, sha256 }) => ({ path, size, sha256 }))).toEqual([
    { path: "cov/index.html", size: 7, sha256: new Bun.CryptoHasher("sha256").update("<html>\n").digest("hex") },
    { path: "out/blob", size: 3_000_000, sha256: sha },
  ]);
  expect(await pending("")).toEqual([]);

  // the control: the same upload with direct=false streams through the coordinator, and the counter sees it
  const streaming = await startCluster({ DROVER_STORAGE: `${s3.spec}&direct=false`, AWS_ACCESS_KEY_ID: "S3RVER", AWS_SECRET_ACCESS_KEY: "S3RVER" });
  try {
    // keeping nothing: the restore below downloads
    await streaming.startAgent("p1", ["--keep-workspaces", "0"]);
    const viaCoordinator = await streaming.submit("tasks:\n  t: { steps: [ { run: 'head -c 100000 /dev/zero > f' }, { save_artifact: { paths: [f] } } ] }\n");
    expect((await streaming.waitRun(viaCoordinator)).result).toBe("success");
    expect(await proxied(streaming, "up")).toBe(100_000);
    expect(await direct(streaming, "up")).toBe(0);
    // a workspace restored through the coordinator: counted down as its whole object, once
    const restored = await streaming.submit("tasks:\n  a: { steps: [ { run: 'head -c 100000 /dev/urandom > w' }, { save_to_workspace: { paths: [w] } } ] }\n  b: { depends: [a], steps: [ { restore_workspace: {} } ] }\n");
    expect((await streaming.waitRun(restored)).result).toBe("success");
    const stored = (await objects(`workspaces/${restored}/`)).map((o) => o.size);
    expect(stored.length).toBe(1);
    expect(await proxied(streaming, "down")).toBe(stored[0]!);
  } finally {
    await streaming.stop();
  }
});

test("a run's uploaded source reaches its agent by a presigned URL", async () => {
  await c.startAgent("w1", ["--label", "who=w1"]);
  const src = join(c.dir, "source");
  Bun.spawnSync(["bash", "-c", `mkdir -p ${src} && echo from-the-source > ${src}/hello.txt && tar czf ${c.dir}/source.tar.gz -C ${src} .`]);
  const archive = Bun.file(join(c.dir, "source.tar.gz"));
  const form = new FormData();
  form.set("pipeline", "tasks:\n  t: { labels: { who: w1 }, steps: [ { run: cat hello.txt } ] }\n");
  form.set("group", "test");
  form.set("workspace", new File([await archive.arrayBuffer()], "source.tar.gz"));
  const downBefore = await direct(c, "down");
  const res = await fetch(`${c.coordinator.url}/api/v1/runs`, { method: "POST", headers: { authorization: "Bearer test-admin-token" }, body: form });
  expect(res.status).toBe(201);
  const { id } = (await res.json()) as { id: string };
  expect((await c.waitRun(id)).result).toBe("success");
  expect(await c.log(id, "t", 0)).toBe("from-the-source\n");
  expect((await direct(c, "down")) - downBefore).toBe(archive.size);
  expect(await proxied(c, "down")).toBe(0);
});

test("a 250 MB workspace goes up in parts and comes back whole, each agent's memory bounded well below its size", async () => {
  const up = await c.startAgent("m1", ["--keep-workspaces", "0", "--label", "who=m1"]);
  const down = await c.startAgent("m2", ["--label", "who=m2"]);
  const idle = [memoryMiB(up.proc.pid).now, memoryMiB(down.proc.pid).now];
  const upBefore = await direct(c, "up");
  const id = await c.submit(`tasks:
  big:
    labels: { who: m1 }
    steps:
      - run: head -c 250000000 /dev/urandom > big.bin && sha256sum big.bin | cut -c1-64
      - save_to_workspace: { paths: [big.bin] }
  check:
    depends: [big]
    labels: { who: m2 }
    steps:
      - restore_workspace: {}
      - run: sha256sum big.bin | cut -c1-64 && rm big.bin
`);
  const run = await c.waitRun(id, 120_000);
  expect(run.result).toBe("success");
  expect(await c.log(id, "check", 1)).toBe(await c.log(id, "big", 0));
  const [archive] = await objects(`workspaces/${id}/`);
  const archiveMiB = archive!.size / 2 ** 20;
  expect(archive!.size).toBeGreaterThan(250_000_000);
  // more than one part's worth can only have gone up as a multipart upload (a single PUT is refused past 8 MiB)
  expect((await direct(c, "up")) - upBefore).toBe(archive!.size);
  expect(await proxied(c, "up")).toBe(0);
  const grew = [memoryMiB(up.proc.pid).peak - idle[0]!, memoryMiB(down.proc.pid).peak - idle[1]!];
  console.log(`agent peak RSS growth moving a ${archiveMiB.toFixed(0)} MiB archive: upload +${grew[0]!.toFixed(0)} MiB, download +${grew[1]!.toFixed(0)} MiB`);
  // two 8 MiB parts, the packer's and extractor's buffers and the garbage Bun has not collected yet
  // (about 50 MiB streaming the same archive to a posix coordinator): not the archive's 238 MiB
  expect(grew[0]!).toBeLessThan(128);
  expect(grew[1]!).toBeLessThan(128);
});

test("a multipart upload left by a killed agent is aborted by the cleanup once its attempt is lost, not before", async () => {
  const agent = await c.startAgent("k1", ["--label", "who=k1"]);
  const id = await c.submit(`tasks:
  t:
    labels: { who: k1 }
    steps:
      - run: head -c 300000000 /dev/urandom > big.bin
      - save_to_workspace: { paths: [big.bin] }
`);
  const [upload] = await waitFor("the multipart upload to begin", async () => {
    const found = await pending(`workspaces/${id}/`);
    return found.length > 0 ? found : undefined;
  }, 60_000, 20);
  // while its attempt runs, the upload is the agent's: a pass leaves it alone
  const early = await c.api<{ removed: Record<string, number> }>("POST", "/api/v1/gc");
  expect(early.body.removed.uploads).toBe(0);
  killGroup(agent.proc, "SIGKILL");
  await agent.proc.exited;
  expect((await pending(`workspaces/${id}/`)).map((u) => u.uploadId)).toContain(upload!.uploadId);
  await waitFor("the attempt to be lost", async () => (await attemptsOf(id, "t"))?.[0]?.state === "lost", 30_000);
  const gc = await c.api<{ removed: Record<string, number> }>("POST", "/api/v1/gc");
  expect(gc.body.removed.uploads).toBeGreaterThanOrEqual(1);
  expect(await pending(`workspaces/${id}/`)).toEqual([]);
  expect(await objects(`workspaces/${id}/`)).toEqual([]);
  expect((await c.api("POST", `/api/v1/runs/${id}/cancel`)).status).toBe(202);
});

test("an agent asking for upload URLs of another agent's attempt is refused", async () => {
  await c.startAgent("o1", ["--label", "who=o1"]);
  const id = await c.submit("tasks:\n  hold: { labels: { who: o1 }, steps: [ { run: sleep 30 } ] }\n");
  const attempt = await waitFor("the attempt to run", async () => {
    const found = (await attemptsOf(id, "hold"))?.[0];
    return found?.state === "running" ? found : undefined;
  });
  await c.startAgent("o2");
  const identity = (name: string) => JSON.parse(readFileSync(join(c.dir, `agent-${name}`, `agent-${name}`, "identity.json"), "utf8")) as { id: string; credential: string };
  const ask = (name: string, path: string, body: unknown) => {
    const { id: agentId, credential } = identity(name);
    return fetch(`${c.coordinator.url}/agent/v1/attempts/${attempt.id}/${path}`, {
      method: "POST",
      headers: { authorization: `Bearer ${credential}`, "x-drover-agent": agentId, [PROTOCOL_HEADER]: String(PROTOCOL_VERSION), "content-type": "application/json" },
      body: JSON.stringify(body),
    });
  };
  const target = { kind: "artifact", path: "stolen.txt" };
  for (const [path, body] of [
    ["uploads", { target, size: 5 }],
    ["uploads/url", { target, size: 5 }],
    ["uploads/multipart", { target }],
    ["uploads/complete", { target, size: 5, sha256: "" }],
  ] as const) {
    const refused = await ask("o2", path, body);
    expect(refused.status).toBe(403);
    expect(((await refused.json()) as { error: { message: string } }).error.message).toBe("this attempt is not running on the calling agent");
  }
  // the attempt's own agent gets its URL, for the key the coordinator chose
  const own = await ask("o1", "uploads", { target, size: 5 });
  expect(own.status).toBe(200);
  const plan = (await own.json()) as { via: string; object: string; url: string };
  expect([plan.via, plan.object]).toEqual(["bucket", `artifacts/${id}/${attempt.id}/stolen.txt`]);
  expect(new URL(plan.url).pathname).toBe(`/${s3.bucket}/artifacts/${id}/${attempt.id}/stolen.txt`);
  // sizes past the bounds are refused, naming them
  const tooBig = await ask("o1", "uploads/url", { target, size: 9 * 1024 * 1024 });
  expect(tooBig.status).toBe(413);
  expect(((await tooBig.json()) as { error: { message: string } }).error.message).toContain("at most 8388608 bytes (the store's part size)");
  const pastParts = await ask("o1", "uploads/url", { target, size: 1, part: { uploadId: "x", number: 500 } });
  expect(pastParts.status).toBe(413);
  expect(((await pastParts.json()) as { error: { message: string } }).error.message).toContain("past the 128 parts of 8388608 bytes that the object size limit of 1073741824 bytes allows");
  // a completion the bucket cannot back is refused, and nothing is recorded
  const missing = await ask("o1", "uploads/complete", { target, size: 5, sha256: "" });
  expect(missing.status).toBe(400);
  expect(((await missing.json()) as { error: { message: string } }).error.message).toContain("is not in the bucket");
  // written by the URL but never reported complete (as by an agent that died in between): the registry
  // knows the key, owned by nothing, so the unowned collector deletes it like any other such object
  expect((await fetch(plan.url, { method: "PUT", body: "hello" })).status).toBe(200);
  const db = new Database(join(c.dir, "data", "drover.db"), { readonly: true });
  const rows = db
    .query("SELECT o.key, (SELECT COUNT(*) FROM object_owners w WHERE w.key = o.key) AS owners FROM objects o WHERE o.key = ?")
    .all(plan.object);
  db.close();
  expect(rows).toEqual([{ key: plan.object, owners: 0 }]);
  // a body that is not an upload request is a 400 naming what is wrong
  const bad = await ask("o1", "uploads/url", { target, size: -1 });
  expect(bad.status).toBe(400);
  expect(((await bad.json()) as { error: { message: string } }).error.message).toContain("size");
  expect((await c.api("POST", `/api/v1/runs/${id}/cancel`)).status).toBe(202);
  await c.waitRun(id);
  expect((await c.api<{ artifacts: unknown[] }>("GET", `/api/v1/runs/${id}/artifacts`)).body.artifacts).toEqual([]);
});
