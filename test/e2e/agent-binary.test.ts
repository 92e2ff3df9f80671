import { afterAll, beforeAll, expect, test } from "bun:test";
import { join } from "node:path";
import { AGENT_TOKEN, type Cluster, ROOT, startCluster } from "../helpers/cluster.ts";
import { captureOutput, spawnTracked, stopAll, waitFor } from "../helpers/processes.ts";

let cluster: Cluster;
beforeAll(async () => {
  cluster = await startCluster();
});
afterAll(() => cluster?.stop());

test("the compiled agent binary registers and runs a task", async () => {
  const out = join(cluster.dir, "drover-agent");
  const build = Bun.spawnSync(["bun", "build", "--compile", "agent/main.ts", "--outfile", out], { cwd: ROOT });
  expect(build.exitCode).toBe(0);
  // not one of the cluster's own processes, so cluster.stop() would not end it
  const agent = spawnTracked([out, "--coordinator", cluster.coordinator.url, "--token", AGENT_TOKEN, "--name", "bin", "--work-dir", join(cluster.dir, "bin-work")]);
  try {
    const err = captureOutput(agent.stderr);
    await waitFor("the binary agent to register", () => err.text().includes("registered as"));
    const id = await cluster.submit("tasks:\n  t:\n    steps: [ { run: 'echo from $DROVER_AGENT on $DROVER_ARCH' } ]\n");
    expect((await cluster.waitRun(id)).result).toBe("success");
    expect(await cluster.log(id, "t", 0)).toBe("from bin on amd64\n");
  } finally {
    await stopAll([agent]);
  }
});
