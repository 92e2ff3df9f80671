import { afterEach, expect, test } from "bun:test";
import { existsSync, readdirSync, readlinkSync, statSync } from "node:fs";
import { join } from "node:path";
import { type Cluster, killAndRestartCoordinator, startCluster } from "../helpers/cluster.ts";
import { killGroup, waitFor } from "../helpers/processes.ts";
import { startTcpProxy } from "../helpers/tcp-proxy.ts";

// A step's log that piles up goes as one streamed HTTP upload beside the WebSocket's frames (docs/protocol.md, Logs).
let clusters: Cluster[] = [];
async function cluster(env: Record<string, string> = {}): Promise<Cluster> {
  const c = await startCluster(env);
  clusters.push(c);
  return c;
}
afterEach(async () => {
  for (const c of clusters) await c.stop();
  clusters = [];
});

const uploads = async (c: Cluster, outcome: string) => {
  const text = await (await fetch(`${c.coordinator.url}/metrics`)).text();
  return Number(text.match(new RegExp(`^drover_log_uploads_total\\{outcome="${outcome}"\\} (\\S+)$`, "m"))?.[1] ?? 0);
};
const output = (script: string) => Bun.spawnSync(["bash", "-c", script]).stdout;
/** Bytes of the live log files of the cluster's coordinator. */
const liveBytes = (c: Cluster) => {
  const live = join(c.dir, "data", "live-logs");
  return existsSync(live)
    ? readdirSync(live)
        .filter((f) => f.endsWith(".log"))
        .reduce((n, f) => n + statSync(join(live, f)).size, 0)
    : 0;
};

/** Runs `script` as a task's one step, which succeeds, and checks its stored log is the script's output byte for byte. */
async function storesByteForByte(c: Cluster, script: string): Promise<void> {
  const id = await c.submit(`tasks:\n  big: { steps: [ { run: '${script}' } ] }\n`);
  expect((await c.waitRun(id, 60_000)).result).toBe("success");
  expect(Buffer.compare(Buffer.from(await c.log(id, "big", 0)), output(script))).toBe(0);
}

test("a large log is uploaded and stored byte for byte", async () => {
  const c = await cluster();
  await c.startAgent("uploader");
  await storesByteForByte(c, "seq 1 3000000");
  expect(await uploads(c, "written")).toBeGreaterThan(0);
});

test("uploads are no larger than the node takes (its welcome says): a larger log goes in several, none cut off", async () => {
  // a request body past the object cap (and 16 MiB) is refused mid-body: 64 MiB uploads would be cut off here
  const c = await cluster({ DROVER_MAX_OBJECT_BYTES: String(2 * 1024 * 1024) });
  await c.startAgent("small-bodies");
  await storesByteForByte(c, "seq 1 3000000");
  expect(await uploads(c, "written")).toBeGreaterThan(1);
  expect(await uploads(c, "broken")).toBe(0);
});

test("a log past its cap refuses uploads: the rest goes in frames and the log is cut at the cap", async () => {
  const c = await cluster({ DROVER_MAX_LOG_BYTES: "500000" });
  await c.startAgent("capped");
  // the first 589 KB go in frames (less than a log uploads); an upload of the burst after the pause would start past the cap
  const script = "seq 1 100000; sleep 1; seq 100001 800000 > burst; cat burst";
  const id = await c.submit(`tasks:\n  big: { steps: [ { run: '${script}' } ] }\n`);
  expect((await c.waitRun(id, 60_000)).result).toBe("success");
  const whole = output("seq 1 800000");
  const log = await c.log(id, "big", 0);
  expect(log).toBe(
    `${whole.subarray(0, 500_000).toString()}\n[drover: log truncated at 500000 bytes; ${whole.length - 500_000} more bytes were dropped]\n`,
  );
  // refused (once: the step's log then goes in frames), if the agent got to try one before frames took the burst
  expect(await uploads(c, "written")).toBe(0);
  expect(await uploads(c, "full")).toBeLessThanOrEqual(1);
});

test("a kill -9 of the coordinator mid-upload: the agent resumes from what the file holds, and the log is whole", async () => {
  // Leases long enough for the agent's backoff to find the restarted coordinator, on a loaded machine too.
  const patient = { DROVER_HEARTBEAT_MS: "300", DROVER_LEASE_TTL_MS: "20000", DROVER_RECONNECT_GRACE_MS: "20000" };
  const c = await cluster(patient);
  await c.startAgent("resumer");
  // ~2 MB every 0.2 s for 6 s: uploads all along
  const script = "for i in $(seq 1 30); do seq $((i*300000)) $((i*300000+299999)); sleep 0.2; done";
  const id = await c.submit(`tasks:\n  a: { steps: [ { run: '${script}' } ] }\n`);
  await waitFor(
    "the upload to be under way",
    async () => (liveBytes(c) > 8_000_000 && (await uploads(c, "written")) === 0 ? true : undefined),
    30_000,
    10,
  );
  await killAndRestartCoordinator(c, patient);
  const run = await c.waitRun(id, 60_000);
  expect(run.result).toBe("success");
  expect(run.tasks[0]!.attempts.length).toBe(1);
  expect(Buffer.compare(Buffer.from(await c.log(id, "a", 0)), output(script))).toBe(0);
  // the restarted coordinator took the rest by upload too, from the offset its file had
  expect(await uploads(c, "written")).toBeGreaterThan(0);
});

test("an agent that vanishes mid-upload has its log upload aborted when its lease lapses: the file is let go", async () => {
  const c = await cluster({ DROVER_HEARTBEAT_MS: "300", DROVER_LEASE_TTL_MS: "1500", DROVER_RECONNECT_GRACE_MS: "1500" });
  const proxy = startTcpProxy(Number(new URL(c.coordinator.url).port));
  try {
    const doomed = await c.startAgent("vanishing", [], `http://127.0.0.1:${proxy.port}`);
    const id = await c.submit("tasks:\n  t: { steps: [ { run: 'seq 1 100000000' } ] }\n");
    await waitFor(
      "the upload to be under way",
      async () => (liveBytes(c) > 8_000_000 && (await uploads(c, "written")) === 0 ? true : undefined),
      30_000,
      10,
    );
    // the machine is gone: its connections neither send nor close
    proxy.freeze();
    killGroup(doomed.proc, "SIGKILL");
    await waitFor("the upload to be aborted", () => c.coordinator.output().includes("unfinished upload(s) of vanishing"), 15_000).catch(
      (e: Error) => {
        // what the coordinator said of its agents, to tell a lease that never lapsed from an upload not found (CI seed 23617234)
        const fleet = c.coordinator.output().split("\n").filter((line) => line.includes("[fleet]"));
        throw new Error(`${e.message}; the coordinator's last fleet lines:\n${fleet.slice(-20).join("\n")}`);
      },
    );
    const fds = `/proc/${c.coordinator.proc.pid}/fd`;
    const liveFds = () =>
      readdirSync(fds).filter((fd) => {
        try {
          return readlinkSync(join(fds, fd)).includes("live-logs");
        } catch {
          return false;
        }
      });
    await waitFor(
      "the coordinator to let the live log go",
      async () => (liveFds().length === 0 && (await uploads(c, "broken")) === 1 ? true : undefined),
      15_000,
    );
    expect(
      (await c.api<{ tasks: { attempts: { state: string }[] }[] }>("GET", `/api/v1/runs/${id}`)).body.tasks[0]!.attempts[0]!
        .state,
    ).toBe("lost");
  } finally {
    proxy.stop();
  }
});
