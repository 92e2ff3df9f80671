import { afterEach, expect, test } from "bun:test";
import { join } from "node:path";
import { type Cluster, type RunView, startCluster } from "../helpers/cluster.ts";
import { waitFor } from "../helpers/processes.ts";
import { startS3rver } from "../helpers/s3rver.ts";
import { startTcpProxy } from "../helpers/tcp-proxy.ts";

let cleanup: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const fn of cleanup.reverse()) await fn();
  cleanup = [];
});

const taskOf = (run: RunView, name: string) => run.tasks.find((t) => t.name === name)!;
type StepView = { status: string; error: string | null; archiveObject: string | null };

async function objectRows(c: Cluster): Promise<string[]> {
  const db = Bun.spawnSync(["bash", "-c", `ls -R ${join(c.dir, "data", "objects")} 2>/dev/null`]);
  return db.stdout.toString().split("\n");
}

test("a posix store that fails mid-run fails the step clearly, the attempt is retried, nothing half-written is referenced", async () => {
  const c = await startCluster();
  cleanup.push(() => c.stop());
  await c.startAgent("pf");
  const tmp = join(c.dir, "data", "objects", ".tmp");
  // attempt 1 breaks the store's temp dir (a file where a directory must be); attempt 2 mends it
  const id = await c.submit(`tasks:
  t:
    steps:
      - run: 'head -c 3000000 /dev/urandom > blob; if [ "$DROVER_ATTEMPT" = 1 ]; then rm -rf ${tmp}; touch ${tmp}; else rm -f ${tmp}; mkdir -p ${tmp}; fi'
      - save_to_workspace: { paths: [blob] }
`);
  const run = await c.waitRun(id);
  const attempts = taskOf(run, "t").attempts;
  expect(attempts.map((a) => a.state)).toEqual(["error", "success"]);
  const failed = attempts[0]!.steps[1] as unknown as StepView;
  expect(failed.status).toBe("failed");
  expect(attempts[0]!.error).toContain("storing workspaces/");
  expect(failed.archiveObject).toBeNull();
  expect((attempts[1]!.steps[1] as unknown as StepView).archiveObject).toBeTruthy();
  expect(run.result).toBe("success");
  const archives = (await objectRows(c)).filter((line) => line.endsWith(".tar.zst"));
  expect(archives).toEqual([`${(attempts[1] as unknown as { id: string }).id}-1.tar.zst`]);
});

/**
 * A cluster storing in S3 through a proxy the test controls, and a run whose 40 MB workspace is on its
 * way there: returns once the upload is flowing. `proxy.restart()` brings S3 back on the same port.
 */
async function uploadThroughProxy(name: string) {
  const s3 = await startS3rver(`drover-${name}`);
  cleanup.push(() => s3.stop());
  const s3Port = Number(new URL(s3.endpoint).port);
  let proxy = startTcpProxy(s3Port);
  const proxyPort = proxy.port;
  cleanup.push(() => proxy.stop());
  const spec = s3.spec.replace(s3.endpoint, `http://127.0.0.1:${proxyPort}`);
  const c = await startCluster({ DROVER_STORAGE: spec, AWS_ACCESS_KEY_ID: "S3RVER", AWS_SECRET_ACCESS_KEY: "S3RVER" });
  cleanup.push(() => c.stop());
  await c.startAgent(name);
  const id = await c.submit(`tasks:
  t:
    steps:
      - run: 'head -c 40000000 /dev/urandom > blob'
      - save_to_workspace: { paths: [blob] }
`);
  const before = proxy.bytesUp();
  await waitFor("the upload to start", () => proxy.bytesUp() - before > 2_000_000, 30_000);
  const control = {
    stop: () => proxy.stop(),
    freeze: () => proxy.freeze(),
    restart: () => {
      proxy.stop();
      proxy = startTcpProxy(s3Port, proxyPort);
    },
  };
  return { c, id, proxy: control };
}

test("S3 becoming unreachable mid-upload fails the step, and the retried attempt stores the archive", async () => {
  // once the archive is flowing to S3, the network to it goes away, then comes back for the retry
  const { c, id, proxy } = await uploadThroughProxy("sf");
  proxy.stop();
  await waitFor("the first attempt to fail", async () => {
    const run = (await c.api<RunView>("GET", `/api/v1/runs/${id}`)).body;
    return taskOf(run, "t").attempts[0]?.state === "error";
  });
  proxy.restart();
  const run = await c.waitRun(id, 40_000);
  const attempts = taskOf(run, "t").attempts;
  expect(attempts[0]!.state).toBe("error");
  // whichever upload was in flight when S3 went away (the archive, or the previous step's log) says so
  expect(attempts[0]!.error).toMatch(/storing (workspaces\/\S+|the log) failed/);
  expect((attempts[0]!.steps[1] as unknown as StepView).archiveObject).toBeNull();
  expect(attempts.at(-1)!.state).toBe("success");
  expect(run.result).toBe("success");
});

test("cancelling a run aborts an upload that hangs", async () => {
  // S3 stops answering mid-upload: the coordinator stops reading, and the agent's upload hangs until aborted
  const { c, id, proxy } = await uploadThroughProxy("cancel");
  proxy.freeze();
  expect((await c.api("POST", `/api/v1/runs/${id}/cancel`)).status).toBe(202);
  // Logs are stored in S3 too, so it comes back for the attempt to report; an upload still hanging by
  // then would fail with S3's error rather than "cancelled". Nothing outside the agent shows the abort.
  await Bun.sleep(1_000);
  proxy.restart();
  const run = await c.waitRun(id, 30_000);
  const attempt = taskOf(run, "t").attempts[0]!;
  expect([run.phase, run.result, attempt.state]).toEqual(["cancelled", "stopped", "stopped"]);
  expect((attempt.steps[1] as unknown as StepView).error).toBe("cancelled");
  expect(await c.log(id, "t", 1)).toBe("error: cancelled\n");
}, 90_000);
