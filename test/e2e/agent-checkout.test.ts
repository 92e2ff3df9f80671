import { afterAll, expect, test } from "bun:test";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import type { Assignment, CheckoutSpec } from "../../shared/protocol/index.ts";
import { ROOT } from "../helpers/cluster.ts";
import { startFakeCoordinator } from "../helpers/fake-coordinator.ts";
import { checkoutSpec, startGitServer } from "../helpers/git-server.ts";
import { captureOutput, spawnTracked, stopAll, waitFor } from "../helpers/processes.ts";
import { scratchDirs } from "../helpers/scratch.ts";

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
const basic = Buffer.from(`x-access-token:${server.token}`).toString("base64");

async function startAgent(name: string, flags: string[] = []) {
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
    { cwd: ROOT },
  );
  const err = captureOutput(proc.stderr);
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

/** Samples every process's command line until stopped; returns those that held the token or its basic-auth form. */
function sampleCmdlines(): { stop(): string[] } {
  const leaks = new Set<string>();
  let running = true;
  void (async () => {
    while (running) {
      for (const pid of readdirSync("/proc").filter((p) => /^\d+$/.test(p))) {
        try {
          const cmd = readFileSync(`/proc/${pid}/cmdline`, "utf8").replaceAll("\0", " ");
          if (cmd.includes(server.token) || cmd.includes(basic)) leaks.add(cmd);
        } catch {
          // gone already
        }
      }
      await Bun.sleep(2);
    }
  })();
  return {
    stop() {
      running = false;
      return [...leaks];
    },
  };
}

// The step looks for the token as the repositories check does: its environment, every process's arguments
// and environment, and every file in the work dir (the clone's .git included).
const LOOK = `pat="$(printf '%s' '${server.token.slice(0, 10)}')$(printf '%s' '${server.token.slice(10)}')"
echo "head=$(git rev-parse HEAD) origin=$(git remote get-url origin)"
case "$(env)" in *"$pat"*) echo "LEAK: env";; esac
for f in /proc/[0-9]*/cmdline /proc/[0-9]*/environ; do grep -qaFf - "$f" <<<"$pat" 2>/dev/null && echo "LEAK: $f"; done
{ grep -rlaFf - . <<<"$pat" || true; } | sed 's/^/LEAK: file /'
echo CHECKED`;

test("a real agent checks out the commit before the first step; the token is in no env, argv, log or work-dir file", async () => {
  await startAgent("a1");
  const first = await server.commit("acme/site.git", { "index.html": "<h1>one</h1>\n" });
  const sha = await server.commit("acme/site.git", { "index.html": "<h1>two</h1>\n" });
  const sampler = sampleCmdlines();
  const out = await coordinator.assign("a1", assignment(spec(sha), [LOOK, "cat index.html"]));
  expect(sampler.stop()).toEqual([]);
  expect(out.result.status).toBe("success");
  const step0 = out.logs.get(0)!;
  // the checkout is the start of the first step's log; pipeline steps keep their indices
  expect(step0).toStartWith(`checkout: ${url} at ${sha} (refs/heads/main) into the work dir\n`);
  expect(step0).toContain(`head=${sha} origin=${url}\n`);
  expect(step0).toContain("CHECKED");
  expect(step0).not.toContain("LEAK");
  expect(out.logs.get(1)).toBe("<h1>two</h1>\n");
  for (const log of out.logs.values()) expect(log.includes(server.token) || log.includes(basic)).toBe(false);
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
