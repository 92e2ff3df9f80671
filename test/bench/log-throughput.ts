import { type Benchmark, MiB, percentile, round, runToEnd, sampleRss, target, withCluster } from "./lib.ts";
import { LOG_BYTES, LOG_ENV, LOG_PIPELINE, type LogView, REPEATS, rawWebSocketMiBs } from "./log-common.ts";

/** One step writing 256 MiB, from the step's start on the agent to the run's end (log stored as an object). */
async function viaCoordinator(): Promise<{ rates: number[]; peakRss: number }> {
  return withCluster({ env: LOG_ENV, agentFlags: ["--capacity", "1"] }, async (cluster) => {
    // `bun cli/main.ts serve` runs the server in that very process (no child), so its pid is the one to sample.
    const rss = sampleRss(cluster.coordinator.proc.pid);
    const rates: number[] = [];
    let peakRss = 0;
    try {
      for (let i = 0; i < REPEATS; i++) {
        const id = await runToEnd(cluster, LOG_PIPELINE, 300_000);
        const { body } = await cluster.api<LogView>("GET", `/api/v1/runs/${id}`);
        const step = body.tasks[0]!.attempts[0]!.steps[0]!;
        if (step.logSize !== LOG_BYTES) throw new Error(`stored ${step.logSize} log bytes, expected ${LOG_BYTES}`);
        rates.push(LOG_BYTES / MiB / ((body.endedAt - step.startedAt) / 1000));
      }
    } finally {
      peakRss = rss.stop();
    }
    return { rates, peakRss };
  });
}

export const log: Benchmark = {
  name: "log",
  rounds: 3,
  async run() {
    const baseline = await rawWebSocketMiBs();
    const { rates, peakRss } = await viaCoordinator();
    const value = percentile(rates, 50);
    const ratio = value / baseline;
    return {
      log_mb_s: { value: round(value, 1), unit: "MiB/s", baseline: round(baseline, 1), ratio: round(ratio), target: target("≥ 70% of raw WS", ratio >= 0.7) },
      coordinator_rss_mb: { value: round(peakRss, 1), unit: "MiB", target: target("≤ 200 MiB", peakRss <= 200) },
    };
  },
};
