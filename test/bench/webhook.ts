import { deliver } from "../helpers/forge-deliveries.ts";
import { startGitServer } from "../helpers/git-server.ts";
import { waitFor } from "../helpers/processes.ts";
import { type Benchmark, percentile, round, target, withCluster } from "./lib.ts";

const SAMPLES = 20;
const PIPELINE = "tasks:\n  t:\n    steps: [ { run: echo hi } ]\n";

type RunView = { phase: string; tasks: { attempts: { steps: { startedAt: number | null }[] }[] }[] };

/**
 * A signed GitHub push delivered → the first step of its run running, as the agent reported it. Every sample is
 * the first run of a new project on its own private repository, so the coordinator's first mirror fetch (and
 * the pipeline read at the commit) is part of each figure.
 */
async function samples(): Promise<number[]> {
  const git = startGitServer();
  try {
    return await withCluster({}, async (cluster) => {
      const times: number[] = [];
      for (let i = 0; i < SAMPLES; i++) {
        const name = `bench-${i}`;
        const repo = git.createRepo(`bench/${name}.git`, { private: true });
        const sha = await git.commit(`bench/${name}.git`, { ".drover.yml": PIPELINE, "README.md": String(i) });
        const created = await cluster.api<{ hook_url: string; hook_secret: string }>("POST", "/api/v1/projects", {
          name,
          // plain git: no commit statuses to post beside the measured path
          repo: { url: repo, forge: "git", credentials: git.token },
        });
        const payload = { ref: "refs/heads/main", before: "0".repeat(40), after: sha, repository: { id: 1, full_name: `bench/${name}`, clone_url: repo } };
        const start = Date.now();
        const res = await deliver(created.body.hook_url, "github", "push", created.body.hook_secret, payload);
        const delivery = (await res.json()) as { outcome: string; reason: string; run: { id: string } };
        if (delivery.outcome !== "created") throw new Error(`delivery ${i}: ${delivery.outcome}: ${delivery.reason}`);
        const started = await waitFor(
          `run ${delivery.run.id}'s first step`,
          async () => {
            const { body } = await cluster.api<RunView>("GET", `/api/v1/runs/${delivery.run.id}`);
            return body.tasks[0]?.attempts[0]?.steps[0]?.startedAt ?? undefined;
          },
          60_000,
          5,
        );
        times.push(started - start);
        await cluster.waitRun(delivery.run.id, 60_000);
      }
      return times;
    });
  } finally {
    await git.stop();
  }
}

export const webhook: Benchmark = {
  name: "webhook",
  async run() {
    const value = percentile(await samples(), 50);
    return { webhook_to_running_ms: { value: round(value), unit: "ms", target: target("≤ 100 ms", value <= 100) } };
  },
};
