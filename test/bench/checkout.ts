import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ROOT } from "../helpers/cluster.ts";
import { startFakeCoordinator } from "../helpers/fake-coordinator.ts";
import { checkoutSpec, type GitServer, runGit, startGitServer } from "../helpers/git-server.ts";
import { captureOutput, killGroup, spawnTracked, waitFor } from "../helpers/processes.ts";
import { type Benchmark, round, target } from "./lib.ts";

const FILES = 5000;
const COMMITS = 2000;
/** files each later commit changes */
const TOUCHED = 5;
const ROUNDS = 5;

function content(file: number, version: number): string {
  let text = `// file ${file}, version ${version}\n`;
  for (let i = 0; text.length < 1500; i++) text += `export const v${file}_${i} = compute(${(file * 7919 + i * 104729 + version) % 1000003});\n`;
  return text;
}

const path = (file: number) => `src/d${file % 50}/f${file}.ts`;
const data = (text: string) => `data ${Buffer.byteLength(text)}\n${text}\n`;

/** A fast-import stream of `count` commits on main after `from` (or a root commit adding every file). */
function history(first: number, count: number, from: string | null): string {
  const parts: string[] = [];
  for (let c = first; c < first + count; c++) {
    parts.push(`commit refs/heads/main\ncommitter Bench <bench@drover.invalid> ${1_700_000_000 + c * 60} +0000\n`, data(`commit ${c}`));
    if (c === first && from) parts.push(`from ${from}\n`);
    if (c === 0) for (let f = 0; f < FILES; f++) parts.push(`M 100644 inline ${path(f)}\n`, data(content(f, 0)));
    else for (let t = 0; t < TOUCHED; t++) {
      const f = (c * 977 + t * 131) % FILES;
      parts.push(`M 100644 inline ${path(f)}\n`, data(content(f, c)));
    }
  }
  return parts.join("");
}

async function importHistory(server: GitServer, repo: string, stream: string): Promise<string> {
  const dir = server.repoDir(repo);
  const proc = Bun.spawn(["git", "fast-import", "--quiet"], { cwd: dir, env: { ...process.env, GIT_DIR: dir }, stdin: "pipe", stderr: "pipe" });
  proc.stdin.write(stream);
  await proc.stdin.end();
  if ((await proc.exited) !== 0) throw new Error(`git fast-import failed: ${await new Response(proc.stderr).text()}`);
  return (await runGit(["--git-dir", dir, "rev-parse", "refs/heads/main"])).trim();
}

/**
 * checkout_warm_s: a repository of 2,000 commits and 5,000 files on the test git server (smart HTTP, a token),
 * checked out by a real agent process whose mirror already holds the history (one new commit pushed before each
 * round), against a plain `git clone` of the same commit over the same server, in the same run; medians of 5, alternating.
 */
export const checkoutBench: Benchmark = {
  name: "checkout",
  async run() {
    const server = startGitServer();
    const coordinator = startFakeCoordinator();
    const work = mkdtempSync(join(tmpdir(), "drover-bench-checkout-"));
    const agent = spawnTracked(
      ["bun", "agent/main.ts", "--coordinator", coordinator.url, "--token", "t", "--name", "bench", "--work-dir", join(work, "agent")],
      { cwd: ROOT },
    );
    try {
      const err = captureOutput(agent.stderr);
      await waitFor("the agent to connect", () => coordinator.connected("bench").then(() => true), 20_000).catch((e) => {
        throw new Error(`${e.message}\n${err.text()}`);
      });
      const repo = "bench/big.git";
      const url = server.createRepo(repo, { private: true });
      let sha = await importHistory(server, repo, history(0, COMMITS, null));
      await runGit(["--git-dir", server.repoDir(repo), "repack", "-a", "-d", "-q"]);
      let n = 0;
      /** the agent's checkout of `sha`: its first step (`true`) from start to end, checkout included */
      const agentCheckout = async (at: string) => {
        n++;
        const out = await coordinator.assign("bench", {
          attempt: `bench-${n}`,
          run: `run-${n}`,
          task: "checkout",
          number: 1,
          arch: "amd64",
          env: {},
          workspace: null,
          timeoutMs: 600_000,
          secrets: [],
          steps: [{ kind: "run", name: "nothing", command: "true", env: {} }],
          sandbox: false,
          network: false,
          memoryBytes: null,
          checkout: checkoutSpec(server, url, at),
        });
        if (out.result.status !== "success") throw new Error(`checkout ${n} ${out.result.status}: ${out.result.error}\n${out.logs.get(0)}`);
        const at0 = (type: string) => (out.reports.find((r) => r.type === type) as { at: number }).at;
        return (at0("step_end") - at0("step_start")) / 1000;
      };
      const cold = await agentCheckout(sha);
      const warm: number[] = [];
      const plain: number[] = [];
      for (let r = 0; r < ROUNDS; r++) {
        sha = await importHistory(server, repo, history(COMMITS + r, 1, "refs/heads/main^0"));
        warm.push(await agentCheckout(sha));
        const dir = join(work, `plain-${r}`);
        const t0 = performance.now();
        await runGit(["clone", "-q", url, dir], { env: server.authEnv() });
        plain.push((performance.now() - t0) / 1000);
        if ((await runGit(["rev-parse", "HEAD"], { cwd: dir })).trim() !== sha) throw new Error("the plain clone is not at the pushed commit");
        rmSync(dir, { recursive: true, force: true });
      }
      const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
      const value = median(warm);
      const baseline = median(plain);
      const ratio = value / baseline;
      return {
        checkout_warm_s: { value: round(value, 3), unit: "s", baseline: round(baseline, 3), ratio: round(ratio), target: target("≤ 0.5 of git clone", ratio <= 0.5) },
        checkout_cold_s: { value: round(cold, 3), unit: "s", baseline: round(baseline, 3), ratio: round(cold / baseline), target: "(no target; first checkout, mirror empty)" },
      };
    } finally {
      killGroup(agent);
      coordinator.stop();
      await server.stop();
      rmSync(work, { recursive: true, force: true });
    }
  },
};
