import { chmodSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { type Cluster, ROOT } from "./cluster.ts";
import { captureOutput, spawnTracked, waitFor } from "./processes.ts";

/** The unprivileged user the executor tests run steps (`--run-as`) and agents as. */
export const STEP_USER = "drover-step";

/** Makes STEP_USER once per machine, and lets it pass through the cluster's dir to what is given to it. */
export function ensureStepUser(cluster: Cluster): void {
  chmodSync(cluster.dir, 0o711);
  if (Bun.spawnSync(["id", "-u", STEP_USER]).exitCode === 0) return;
  const made = Bun.spawnSync(["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", STEP_USER], {
    stderr: "pipe",
  });
  if (made.exitCode !== 0 && Bun.spawnSync(["id", "-u", STEP_USER]).exitCode !== 0) throw new Error(`useradd: ${made.stderr}`);
}

/**
 * An agent running as STEP_USER (so it cannot make cgroups) in `group`, registered with a token of that group
 * held in its environment (where a step of the same user could read it but for the agent being undumpable).
 */
export async function startUnprivilegedAgent(
  cluster: Cluster,
  name: string,
  group: string,
  flags: string[] = [],
): Promise<{ pid: number; token: string; output: () => string }> {
  ensureStepUser(cluster);
  const work = join(cluster.dir, `work-${name}`);
  mkdirSync(work);
  Bun.spawnSync(["chown", `${STEP_USER}:`, work]);
  const token = (await cluster.api<{ token: string }>("POST", "/api/v1/agent-tokens", { group })).body.token;
  const agent = spawnTracked(
    ["setpriv", `--reuid=${STEP_USER}`, `--regid=${STEP_USER}`, "--init-groups", "--", "bun", "agent/main.ts", "--coordinator",
      cluster.coordinator.url, "--name", name, "--work-dir", work, "--group", group, ...flags],
    { cwd: ROOT, env: { HOME: work, DROVER_AGENT_TOKEN: token } },
  );
  const err = captureOutput(agent.stderr);
  await waitFor(`the unprivileged agent ${name} to register`, () => err.text().includes("registered as"), 20_000);
  return { pid: agent.pid, token, output: err.text };
}
