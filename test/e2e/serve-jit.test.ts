import { afterAll, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { type Cluster, ROOT, startCluster } from "../helpers/cluster.ts";

const clusters: Cluster[] = [];
afterAll(async () => {
  for (const c of clusters) await c.stop();
});

const environ = (pid: number) => readFileSync(`/proc/${pid}/environ`, "utf8").split("\0");
const cmdline = (pid: number) => readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").slice(0, -1);

test("drover serve runs itself again in place without the JIT's top tier, with the same pid and arguments", async () => {
  const cluster = await startCluster();
  clusters.push(cluster);
  const { pid } = cluster.coordinator.proc;
  expect(environ(pid)).toContain("BUN_JSC_useFTLJIT=0");
  // the pid the test spawned as `bun cli/main.ts serve …` serves, executed again with the same flags (and the script's
  // path as Bun resolved it)
  expect(cmdline(pid).slice(1)).toEqual([`${ROOT}/cli/main.ts`, "serve", "--port", "0", "--data", `${cluster.dir}/data`, "--no-fsync"]);
  const { status } = await cluster.api("GET", "/api/v1/agents");
  expect(status).toBe(200);
});

test("a top tier chosen in the environment is kept: the coordinator is not restarted", async () => {
  const cluster = await startCluster({ BUN_JSC_useFTLJIT: "1" });
  clusters.push(cluster);
  expect(environ(cluster.coordinator.proc.pid)).toContain("BUN_JSC_useFTLJIT=1");
  expect(environ(cluster.coordinator.proc.pid)).not.toContain("BUN_JSC_useFTLJIT=0");
});
