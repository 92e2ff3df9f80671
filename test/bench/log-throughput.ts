import type { Cluster } from "../helpers/cluster.ts";
import { type Benchmark, MiB, round, runToEnd, sampleRss, target, withCluster } from "./lib.ts";
import { LOG_BYTES, LOG_ENV, LOG_PIPELINE, type LogView, sideBySide } from "./log-common.ts";

/** One step writing 256 MiB, from the step's start on the agent to the run's end (log stored as an object). */
async function viaCoordinator(cluster: Cluster): Promise<number> {
  const id = await runToEnd(cluster, LOG_PIPELINE, 300_000);
  const { body } = await cluster.api<LogView>("GET", `/api/v1/runs/${id}`);
  const step = body.tasks[0]!.attempts[0]!.steps[0]!;
  if (step.logSize !== LOG_BYTES) throw new Error(`stored ${step.logSize} log bytes, expected ${LOG_BYTES}`);
  return LOG_BYTES / MiB / ((body.endedAt - step.startedAt) / 1000);
}

export const log: Benchmark = {
  name: "log",
  rounds: 3,
  async run() {
    const { value, baseline, peakRss } = await withCluster({ env: LOG_ENV, agentFlags: ["--capacity", "1"] }, async (cluster) => {
      // `bun cli/main.ts serve` runs the server in that very process (no child), so its pid is the one to sample.
      const rss = sampleRss(cluster.coordinator.proc.pid);
      try {
        return { ...(await sideBySide(() => viaCoordinator(cluster))), peakRss: rss.stop() };
      } finally {
        rss.stop();
      }
    });
    const ratio = value / baseline;
    return {
      log_mb_s: { value: round(value, 1), unit: "MiB/s", baseline: round(baseline, 1), ratio: round(ratio), target: target("≥ 70% of raw WS", ratio >= 0.7) },
      coordinator_rss_mb: { value: round(peakRss, 1), unit: "MiB", target: target("≤ 200 MiB", peakRss <= 200) },
    };
  },
};
