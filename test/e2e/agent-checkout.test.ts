import { afterAll, expect, test } from "bun:test";
import { join } from "node:path";
import { mkdirSync } from "node:fs";
import { lockPath, mirrorPath } from "../../agent/checkout/mirrors.ts";
import type { Assignment, CheckoutSpec } from "../../shared/protocol/index.ts";
import { ROOT } from "../helpers/cluster.ts";
import { startFakeCoordinator } from "../helpers/fake-coordinator.ts";
import { checkoutSpec, startGitServer } from "../helpers/git-server.ts";
import { captureOutput, liveProcesses, spawnTracked, stopAll, waitFor } from "../helpers/processes.ts";
import { scratchDirs } from "../helpers/scratch.ts";
import { leakCheckScript, sampleCmdlines, tokenForms } from "../helpers/token-leaks.ts";

// A real agent process, given hand-built assignments by a stand-in coordinator, checks out from a real git server.
const server = startGitServer();
const coordinator = startFakeCoordinator();
const dirs = scratchDirs("drover-agent-checkout-");
afterAll(async () => {
  await stopAll();
  coordinator.stop();
  await server.stop();
});

const url = server.createRepo("acme/site.git", { private: true });
const other = server.createRepo("elsewhere/x.git");

async function startAgent(name: string, flags: string[] = [], env: Record<string, string> = {}) {
  const proc = spawnTracked(
    [
      "bun",
      "agent/main.ts",
      "--coordinator",
      coordinator.url,
      "--token",
      "t",
      "--name",
      name,
      "--work-dir",
      dirs.fresh(name),
      ...flags,
    ],
    { cwd: ROOT, env },
  );
  const err = captureOutput(proc.stderr);
  coordinator.outputOf(name, err.text);
  await waitFor(`agent ${name} to connect`, () => coordinator.connected(name).then(() => true), 20_000);
  return err;
}

let n = 0;
function assignment(checkout: CheckoutSpec, commands: string[]): Assignment {
  n++;
  return {
    attempt: `att-${n}`,
    run: `run-${n}`,
    task: "build",
    number: 1,
    arch: "amd64",
    env: { CI: "true", DROVER_COMMIT_SHA: checkout.sha },
    workspace: null,
    timeoutMs: 60_000,
    secrets: [],
    steps: commands.map((command, i) => ({ kind: "run" as const, name: `step ${i}`, command, env: {} })),
    sandbox: false,
    network: false,
    memoryBytes: null,
    checkout,
  };
}
const spec = (sha: string, more: Partial<CheckoutSpec> = {}) => checkoutSpec(server, url, sha, more);

test("a real agent checks out the commit before the first step; the token is in no env, argv, log or work-dir file", async () => {
  await startAgent("a1");
  const first = await server.commit("acme/site.git", { "index.html": "<h1>one</h1>\n" });
  const sha = await server.commit("acme/site.git", { "index.html": "<h1>two</h1>\n" });
  const sampler = sampleCmdlines(tokenForms(server.token));
  const out = await coordinator.assign("a1", assignment(spec(sha), [leakCheckScript(server.token), "cat index.html"]));
  expect(sampler.stop()).toEqual([]);
  expect(out.result.status).toBe("success");
  const step0 = out.logs.get(0)!;
  // the checkout is the start of the first step's log; pipeline steps keep their indices
  expect(step0).toStartWith(`checkout: ${url} at ${sha} (refs/heads/main) into the work dir\n`);
  expect(step0).toContain(`head=${sha} origin=${url}\n`);
  expect(step0).toContain("CHECKED");
  expect(step0).not.toContain("LEAK");
  expect(out.logs.get(1)).toBe("<h1>two</h1>\n");
  for (const log of out.logs.values()) for (const form of tokenForms(server.token)) expect(log).not.toContain(form);
  // the second attempt of this agent uses its mirror: no fetch for a commit it already has
  const fetches = server.requests.length;
  const again = await coordinator.assign("a1", assignment(spec(first), ["git rev-parse HEAD"]));
  expect(again.logs.get(0)).toContain("the mirror has the commit already");
  expect(again.logs.get(0)).toEndWith(`${first}\n`);
  expect(server.requests.length).toBe(fetches);
});

test("a checkout that fails fails the first step with git's message, token redacted; --allowed-repos refuses others", async () => {
  await startAgent("a2", ["--allowed-repos", `${server.url.replaceAll(".", "\\.")}/acme/.*`]);
  const sha = await server.commit("acme/site.git", { "index.html": "three\n" });
  const wrong = { kind: "token" as const, username: "x-access-token", token: "not-the-token-123" };
  const denied = await coordinator.assign("a2", assignment(spec(sha, { credentials: wrong }), ["echo never"]));
  expect(denied.result.status).toBe("failed");
  expect(denied.result.error).toContain(`checkout of ${url} failed`);
  expect(denied.result.error).toContain("Authentication failed");
  expect(denied.logs.get(0)).toContain("error: checkout of");
  expect(JSON.stringify(denied)).not.toContain("not-the-token-123");
  expect(denied.logs.get(0)).not.toContain("never");
  expect(denied.reports.filter((r) => r.type === "step_start").length).toBe(1);
  const refused = await coordinator.assign("a2", assignment(spec(sha, { url: other, credentials: null }), ["echo never"]));
  expect(refused.result.status).toBe("failed");
  expect(refused.result.error).toBe(
    `checkout: this agent may not clone ${other} (--allowed-repos ${server.url.replaceAll(".", "\\.")}/acme/.*)`,
  );
});

test("a cancel while the checkout waits for the mirror's lock stops the attempt at once; no step runs, no waiter is left", async () => {
  const mirrors = dirs.fresh("a3-mirrors");
  await startAgent("a3", ["--git-mirrors", mirrors]);
  const sha = await server.commit("acme/site.git", { "index.html": "four\n" });
  mkdirSync(mirrors, { recursive: true });
  const lock = lockPath(mirrorPath(mirrors, url));
  // another checkout holds the mirror (for longer than the test): the agent's waits for the lock (2 minutes by default)
  const holder = Bun.spawn(["flock", lock, "sleep", "60"], { stdout: "ignore" });
  const waiters = () => liveProcesses(`flock -x -w 120 -E 75 ${lock}`);
  try {
    const attempt = assignment(spec(sha), ["echo never"]);
    const outcome = coordinator.assign("a3", attempt);
    await waitFor("the agent to wait for the mirror's lock", () => waiters() === 1);
    const cancelledAt = Date.now();
    coordinator.cancel("a3", attempt.attempt);
    const out = await outcome;
    expect(Date.now() - cancelledAt).toBeLessThan(5000);
    expect(out.result).toMatchObject({ status: "stopped", error: "cancelled" });
    expect(out.reports.find((r) => r.type === "step_end")).toMatchObject({ step: 0, exitCode: null, error: "cancelled" });
    expect(out.logs.get(0)).toEndWith("error: cancelled\n");
    expect(waiters()).toBe(0);
  } finally {
    holder.kill();
  }
});

test("two attempts at once on one agent (capacity 2) wait for its mirror's lock and take it in turn; a mirror held too long is bypassed by a plain clone", async () => {
  const mirrors = dirs.fresh("a4-mirrors");
  await startAgent("a4", ["--capacity", "2", "--git-mirrors", mirrors], { DROVER_GIT_MIRROR_LOCK_MS: "30000" });
  const one = await server.commit("acme/site.git", { "index.html": "five\n" });
  const two = await server.commit("acme/site.git", { "index.html": "six\n" }, { branch: "other" });
  // the lock is held for a moment when both arrive, so both wait for it, then take it one after the other
  mkdirSync(mirrors, { recursive: true });
  const lock = lockPath(mirrorPath(mirrors, url));
  const brief = Bun.spawn(["flock", lock, "sleep", "1.5"], { stdout: "ignore" });
  await waitFor("the brief holder to take the lock", () => liveProcesses(`flock ${lock} sleep 1.5`) === 1);
  let mostWaiting = 0;
  let watching = true;
  const watcher = (async () => {
    while (watching) {
      mostWaiting = Math.max(mostWaiting, liveProcesses(`flock -x -w 30 -E 75 ${lock}`));
      await Bun.sleep(5);
    }
  })();
  const [a, b] = await Promise.all([
    coordinator.assign("a4", assignment(spec(one), ["git rev-parse HEAD; cat index.html"])),
    coordinator.assign("a4", assignment(spec(two, { ref: "refs/heads/other" }), ["git rev-parse HEAD; cat index.html"])),
  ]);
  watching = false;
  await watcher;
  await brief.exited;
  expect([a.result.status, b.result.status]).toEqual(["success", "success"]);
  expect(a.logs.get(0)).toEndWith(`${one}\nfive\n`);
  expect(b.logs.get(0)).toEndWith(`${two}\nsix\n`);
  expect(mostWaiting).toBe(2);
  // the mirror both went through is sound
  expect(Bun.spawnSync(["git", "-C", mirrorPath(mirrors, url), "fsck", "--no-progress"]).exitCode).toBe(0);

  // another holder keeps the lock past the agent's bound (DROVER_GIT_MIRROR_LOCK_MS): a plain clone instead
  await startAgent("a5", ["--git-mirrors", mirrors], { DROVER_GIT_MIRROR_LOCK_MS: "300" });
  const holder = Bun.spawn(["flock", lock, "sleep", "30"], { stdout: "ignore" });
  try {
    await waitFor("the holder to take the lock", () => liveProcesses(`flock ${lock} sleep 30`) === 1);
    await Bun.sleep(100);
    const fallback = await coordinator.assign("a5", assignment(spec(two, { ref: "refs/heads/other" }), ["git rev-parse HEAD"]));
    expect(fallback.result.status).toBe("success");
    expect(fallback.logs.get(0)).toContain("checkout: the mirror is busy after 0.3 s; cloning from the remote instead\n");
    expect(fallback.logs.get(0)).toEndWith(`${two}\n`);
  } finally {
    holder.kill();
  }
});
