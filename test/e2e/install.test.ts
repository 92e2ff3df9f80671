import { afterAll, beforeAll, expect, test } from "bun:test";
import { join } from "node:path";
import type { Subprocess } from "bun";
import { AGENT_TOKEN, type Cluster, ROOT, type RunView, startCluster } from "../helpers/cluster.ts";
import { captureOutput, spawnTracked, stopAll, waitFor } from "../helpers/processes.ts";
import { scratchDirs } from "../helpers/scratch.ts";

const hasQemu = Bun.which("qemu-aarch64-static") !== null && Bun.spawnSync(["test", "-d", "/usr/aarch64-linux-gnu"]).exitCode === 0;
let cluster: Cluster;
// afterAll hooks run in the order registered: the coordinator serving from `dist` stops before the dir goes
afterAll(() => cluster?.stop());
const { root: dist } = scratchDirs("drover-dist-");

beforeAll(async () => {
  const targets = hasQemu ? "linux-x64 linux-arm64" : "linux-x64";
  const build = Bun.spawnSync(["bash", "-c", `./scripts/build-agent ${targets}`], { cwd: ROOT });
  expect(build.exitCode).toBe(0);
  for (const name of build.stdout.toString().trim().split("\n")) {
    Bun.spawnSync(["cp", join(ROOT, name), join(ROOT, `${name}.sha256`), dist]);
  }
  cluster = await startCluster({ DROVER_AGENT_DIST: dist });
});

// The installed agent is the compiled binary: this is also the test that the binary registers and runs a task.
test("install.sh detects the arch, verifies and installs the agent, which then runs a task", async () => {
  const prefix = join(cluster.dir, "prefix");
  const script = await fetch(`${cluster.coordinator.url}/install.sh`);
  expect(script.status).toBe(200);
  const sum = await (await fetch(`${cluster.coordinator.url}/download/drover-agent-linux-amd64.sha256`)).text();
  expect(sum.trim()).toMatch(/^[0-9a-f]{64}$/);
  const install = Bun.spawnSync(["sh", "-s", "--", "--token", AGENT_TOKEN, "--prefix", prefix, "--name", "installed", "--group", "installed"], {
    stdin: new TextEncoder().encode(await script.text()),
  });
  const out = install.stdout.toString();
  expect(install.exitCode).toBe(0);
  expect(out).toContain("no systemd here");
  const config = await Bun.file(join(prefix, "etc/drover/agent.env")).text();
  expect(config).toContain(`DROVER_COORDINATOR=${cluster.coordinator.url}`);
  const agent = spawnTracked(["sh", "-c", `set -a; . ${prefix}/etc/drover/agent.env; set +a; exec ${prefix}/bin/drover-agent`]);
  try {
    const err = captureOutput(agent.stderr);
    await waitFor("the installed agent to register", () => err.text().includes("registered as installed"));
    // a group of its own: the file's other agents may be connected, whatever the order the tests run in
    // the workspace steps run code the binary keeps in chunks of its own, loaded at first use (scripts/build-agent)
    const id = await cluster.submit(`tasks:
  t: { group: installed, steps: [ { run: 'echo on $DROVER_AGENT, $DROVER_ARCH | tee out' }, { save_to_workspace: { paths: [out] } } ] }
  u: { group: installed, depends: [t], steps: [ { restore_workspace: {} }, { run: 'cat out' } ] }
`);
    expect((await cluster.waitRun(id)).result).toBe("success");
    expect(await cluster.log(id, "t", 0)).toBe("on installed, amd64\n");
    expect(await cluster.log(id, "u", 1)).toBe("on installed, amd64\n");
  } finally {
    await stopAll([agent]);
  }
});

test("a tampered binary is refused by install.sh", async () => {
  const good = await Bun.file(join(dist, "drover-agent-linux-amd64.sha256")).text();
  await Bun.write(join(dist, "drover-agent-linux-amd64.sha256"), `${"0".repeat(64)}\n`);
  try {
    const script = await (await fetch(`${cluster.coordinator.url}/install.sh`)).text();
    const install = Bun.spawnSync(["sh", "-s", "--", "--token", AGENT_TOKEN, "--prefix", join(cluster.dir, "bad")], {
      stdin: new TextEncoder().encode(script),
    });
    expect(install.exitCode).not.toBe(0);
    expect(install.stderr.toString()).toContain("checksum mismatch");
    expect(await Bun.file(join(cluster.dir, "bad/bin/drover-agent")).exists()).toBe(false);
  } finally {
    await Bun.write(join(dist, "drover-agent-linux-amd64.sha256"), good);
  }
});

test.skipIf(!hasQemu)("a heterogeneous fleet: an emulated arm64 agent beside an amd64 one, each task on the right arch", async () => {
  const arm = spawnTracked([
    "qemu-aarch64-static",
    "-L",
    "/usr/aarch64-linux-gnu",
    join(dist, "drover-agent-linux-arm64"),
    "--coordinator",
    cluster.coordinator.url,
    "--token",
    AGENT_TOKEN,
    "--name",
    "arm-agent",
    "--work-dir",
    join(cluster.dir, "arm-work"),
  ]);
  let amd: Subprocess | undefined;
  try {
    const armOut = captureOutput(arm.stderr);
    await waitFor("the arm64 agent to register", () => armOut.text().includes("registered as"), 60_000);
    amd = (await cluster.startAgent("amd-agent", ["--arch", "amd64"])).proc;
    const agents = (await cluster.api<{ agents: { name: string; archs: string[] }[] }>("GET", "/api/v1/agents")).body.agents;
    expect(agents.find((a) => a.name === "arm-agent")!.archs).toEqual(["arm64"]);
    const id = await cluster.submit(`tasks:
  on-arm: { arch: arm64, steps: [ { run: 'echo "$DROVER_AGENT $DROVER_ARCH"' } ] }
  on-amd: { arch: amd64, steps: [ { run: 'echo "$DROVER_AGENT $DROVER_ARCH"' } ] }
`);
    const run = await cluster.waitRun(id, 60_000);
    expect((run as RunView).result).toBe("success");
    expect(await cluster.log(id, "on-arm", 0)).toBe("arm-agent arm64\n");
    expect(await cluster.log(id, "on-amd", 0)).toBe("amd-agent amd64\n");
  } finally {
    // both: an agent left online takes the other tests' tasks (they run in any order)
    await stopAll(amd ? [arm, amd] : [arm]);
  }
});
