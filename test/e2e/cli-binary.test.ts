import { afterAll, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { AGENT_TOKEN, ADMIN_TOKEN, ROOT } from "../helpers/cluster.ts";
import { captureOutput, spawnTracked, stopAll, waitFor } from "../helpers/processes.ts";

const dir = mkdtempSync(join(tmpdir(), "drover-bin-"));
afterAll(async () => {
  await stopAll();
  rmSync(dir, { recursive: true, force: true });
});

test("drover builds into one binary that serves the coordinator and speaks the CLI", async () => {
  const build = Bun.spawnSync(["./scripts/build-cli"], { cwd: ROOT });
  expect(build.exitCode).toBe(0);
  const drover = join(ROOT, "dist/drover");
  // run from an unrelated directory: the binary must carry its migrations, UI and install script
  const serve = spawnTracked([drover, "serve", "--port", "0", "--data", join(dir, "data")], {
    cwd: dir,
    env: { DROVER_ADMIN_TOKEN: ADMIN_TOKEN, DROVER_AGENT_TOKEN: AGENT_TOKEN },
  });
  const out = captureOutput(serve.stdout);
  const url = await waitFor("the binary coordinator", () => out.text().match(/listening on (http:\/\/\S+)/)?.[1], 20_000);
  expect((await fetch(`${url}/install.sh`)).status).toBe(200);
  expect((await fetch(`${url}/login`)).status).toBe(200);
  const agent = spawnTracked(["bun", "agent/main.ts", "--coordinator", url, "--token", AGENT_TOKEN, "--name", "b1", "--work-dir", join(dir, "work")], { cwd: ROOT });
  const agentErr = captureOutput(agent.stderr);
  await waitFor("the agent", () => agentErr.text().includes("registered as"));

  const project = join(dir, "project");
  await Bun.write(join(project, ".drover.yml"), "tasks:\n  hello: { steps: [ { run: 'cat greeting.txt' } ] }\n");
  await Bun.write(join(project, "greeting.txt"), "hi from the binary\n");
  const env = { ...process.env, DROVER_URL: url, DROVER_TOKEN: ADMIN_TOKEN };
  const run = Bun.spawnSync([drover, "run"], { cwd: project, env });
  expect(run.exitCode).toBe(0);
  expect(run.stdout.toString()).toContain("[hello] hi from the binary");
  const runs = Bun.spawnSync([drover, "runs", "--json"], { cwd: project, env });
  expect((JSON.parse(runs.stdout.toString()) as { result: string }[])[0]!.result).toBe("success");
  expect(Bun.spawnSync([drover, "runs", "--help"]).stdout.toString()).toContain("drover runs [--group G]");
}, 90_000);
