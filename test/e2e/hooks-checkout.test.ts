import { afterAll, expect, test } from "bun:test";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { ROOT } from "../helpers/cluster.ts";
import { assignmentOf, startFakeCoordinator } from "../helpers/fake-coordinator.ts";
import { checkoutSpec, startGitServer } from "../helpers/git-server.ts";
import { captureOutput, spawnTracked, stopAll, waitFor } from "../helpers/processes.ts";
import { scratchDirs } from "../helpers/scratch.ts";

// The checkout hooks around a repository task's checkout, with a real agent, a stand-in coordinator and a
// real git server: environment, pre-checkout (the work dir still empty), the checkout, post-checkout (the
// commit in place), pre-task, the step, post-task, in that order in the first step's log.
const server = startGitServer();
const coordinator = startFakeCoordinator();
const dirs = scratchDirs("drover-hooks-checkout-");
afterAll(async () => {
  await stopAll();
  coordinator.stop();
  await server.stop();
});

test("pre-checkout and post-checkout run around the checkout, between environment and pre-task", async () => {
  const url = server.createRepo("acme/hooked.git");
  const sha = await server.commit("acme/hooked.git", { "README.md": "hooked\n" });
  const hooks = dirs.fresh("hooks");
  mkdirSync(hooks, { recursive: true });
  const hook = (name: string, body: string) => writeFileSync(join(hooks, name), `${body}\n`);
  hook("environment", "echo env");
  hook("pre-checkout", 'echo "before: $(ls -A | wc -l) files"');
  hook("post-checkout", 'echo "after: $(cat README.md)"');
  hook("pre-task", "echo pre");
  hook("post-task", 'echo "post $DROVER_TASK_RESULT"');
  const agent = spawnTracked(
    ["bun", "agent/main.ts", "--coordinator", coordinator.url, "--token", "t", "--name", "h1", "--work-dir", dirs.fresh("h1"), "--hooks-dir", hooks],
    { cwd: ROOT },
  );
  const err = captureOutput(agent.stderr);
  await waitFor("the agent to connect", () => coordinator.connected("h1").then(() => true), 20_000).catch((e: Error) => {
    throw new Error(`${e.message}\n${err.text()}`);
  });
  const steps = [{ kind: "run" as const, name: "step", command: "echo step", env: {} }];
  const out = await coordinator.assign("h1", assignmentOf("hooked-1", steps, { checkout: checkoutSpec(server, url, sha) }));
  expect(out.result.status).toBe("success");
  const log = out.logs.get(0)!;
  const headers = log.split("\n").filter((l) => l.startsWith("--- hook ") || l.startsWith("checkout: HEAD"));
  expect(headers).toEqual([
    "--- hook environment",
    "--- hook pre-checkout",
    `checkout: HEAD is ${sha}`,
    "--- hook post-checkout",
    "--- hook pre-task",
    "--- hook post-task",
  ]);
  expect(log).toContain("--- hook pre-checkout\nbefore: 0 files\n");
  expect(log).toContain("--- hook post-checkout\nafter: hooked\n");
  expect(log).toEndWith("pre\nstep\n--- hook post-task\npost success\n");
});
