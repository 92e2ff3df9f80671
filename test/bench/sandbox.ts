import type { Cluster } from "../helpers/cluster.ts";
import { type Benchmark, percentile, round, runToEnd, target } from "./lib.ts";
import { startCluster } from "../helpers/cluster.ts";

const SAMPLES = 100;
const WARMUP = 10;

/** A chain of `true` steps for the agent labelled `kind`: one at a time, none waiting behind another. */
function chain(n: number, kind: string, sandbox: boolean): string {
  const tasks = Array.from(
    { length: n },
    (_, i) => `  t${i}:\n    labels: { kind: ${kind} }\n${sandbox ? "    sandbox: true\n" : ""}${i ? `    depends: [t${i - 1}]\n` : ""}    steps: [ { run: "true" } ]`,
  );
  return `tasks:\n${tasks.join("\n")}\n`;
}

interface StepsView {
  tasks: { attempts: { steps: { startedAt: number | null; endedAt: number | null }[] }[] }[];
}

/** Step start to step end, as the agent reported them, for each `true` step of a chain on one executor. */
async function stepTimes(cluster: Cluster, kind: string, sandbox: boolean): Promise<number[]> {
  await runToEnd(cluster, chain(WARMUP, kind, sandbox), 120_000);
  const id = await runToEnd(cluster, chain(SAMPLES, kind, sandbox), 300_000);
  const { body } = await cluster.api<StepsView>("GET", `/api/v1/runs/${id}`);
  return body.tasks.map((t) => {
    const step = t.attempts[0]!.steps[0]!;
    return step.endedAt! - step.startedAt!;
  });
}

/**
 * sandbox_step_overhead_ms: what running a step in bubblewrap adds to the same step on the host executor (which, as
 * root here, gives each step a PID namespace and cgroups). host_pid_namespace_overhead_ms: what that PID namespace
 * adds to a host step (the same agent with --no-pid-namespace as the baseline).
 */
export const sandbox: Benchmark = {
  name: "sandbox",
  async run() {
    const cluster = await startCluster();
    try {
      await cluster.startAgent("host", ["--label", "kind=host"]);
      await cluster.startAgent("sandbox", ["--label", "kind=sandbox", "--executor", "sandbox"]);
      await cluster.startAgent("bare", ["--label", "kind=bare", "--no-pid-namespace"]);
      const host = percentile(await stepTimes(cluster, "host", false), 50);
      const boxed = percentile(await stepTimes(cluster, "sandbox", true), 50);
      const bare = percentile(await stepTimes(cluster, "bare", false), 50);
      const value = boxed - host;
      return {
        sandbox_step_overhead_ms: { value: round(value), unit: "ms", baseline: round(host), ratio: round(boxed / host), target: target("≤ 15 ms", value <= 15) },
        host_pid_namespace_overhead_ms: { value: round(host - bare), unit: "ms", baseline: round(bare), ratio: round(host / bare) },
      };
    } finally {
      await cluster.stop();
    }
  },
};
