import { ADMIN_TOKEN, type Cluster } from "../helpers/cluster.ts";
import { waitFor } from "../helpers/processes.ts";
import type { Subprocess } from "bun";
import { type Benchmark, cpuMs, type Figure, MiB, percentile, round, target, withCluster } from "./lib.ts";
import { LOG_BYTES, LOG_ENV, LOG_PIPELINE, type LogView, sideBySide } from "./log-common.ts";

/** CPU ms of each process taking part, from the follow's start to its last byte. */
interface FollowCpu {
  coordinator: number;
  /** the agent and the step it ran */
  agent: number;
  /** this process, reading the response */
  follower: number;
}

/**
 * The log benchmark's 256 MiB step with a client following its log live (`?follow=1`) from before
 * the step starts to the end. MiB/s from the step's `startedAt` to the follower's last byte.
 */
async function followOnce(cluster: Cluster, agent: Subprocess, cpu: FollowCpu[]): Promise<number> {
  const id = await cluster.submit(LOG_PIPELINE, `bench-${crypto.randomUUID()}`);
  const url = `${cluster.coordinator.url}/api/v1/runs/${id}/tasks/log/steps/0/log?follow=1`;
  // 404 until the task has its first attempt
  const res = await waitFor(
    "the log to be followable",
    async () => {
      const r = await fetch(url, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
      if (r.ok) return r;
      await r.body?.cancel();
      return undefined;
    },
    30_000,
  );
  const coordinator = cluster.coordinator.proc.pid;
  const before = { coordinator: cpuMs(coordinator), agent: cpuMs(agent.pid, true), follower: ownCpuMs() };
  const spent: FollowCpu = { coordinator: 0, agent: 0, follower: 0 };
  let received = 0;
  let end = 0;
  for await (const chunk of res.body!) {
    received += chunk.byteLength;
    // the last byte's arrival, as for the raw transfer; the response itself ends once the log is stored
    if (received >= LOG_BYTES && !end) {
      end = Date.now();
      spent.coordinator = cpuMs(coordinator) - before.coordinator;
      spent.follower = ownCpuMs() - before.follower;
    }
  }
  // the response ends once the log is stored, after the step's end was reported: its process has been waited for
  spent.agent = cpuMs(agent.pid, true) - before.agent;
  cpu.push(spent);
  if (received !== LOG_BYTES) throw new Error(`the follower received ${received} bytes, expected ${LOG_BYTES}`);
  const { body } = await cluster.api<LogView>("GET", `/api/v1/runs/${id}`);
  const step = body.tasks[0]!.attempts[0]!.steps[0]!;
  await cluster.waitRun(id, 60_000);
  // The baseline removes its file after each transfer; so does this, so neither writes into fresher memory than the other.
  const removed = await cluster.api("DELETE", `/api/v1/runs/${id}`);
  if (removed.status !== 200) throw new Error(`deleting run ${id} answered ${removed.status}`);
  return LOG_BYTES / MiB / ((end - step.startedAt) / 1000);
}

function ownCpuMs(): number {
  const { user, system } = process.cpuUsage();
  return (user + system) / 1000;
}

/**
 * The followed step beside a raw WebSocket transfer (see sideBySide). Also printed: the CPU each process
 * spent per followed step (medians), steadier on a shared machine than the rates, which move with others' load.
 */
export async function logFollow(): Promise<Record<string, Figure>> {
  const cpu: FollowCpu[] = [];
  const { value, baseline, rates, raw } = await withCluster({ env: LOG_ENV, agentFlags: ["--capacity", "1"] }, (cluster, agent) =>
    sideBySide(() => followOnce(cluster, agent, cpu)),
  );
  console.error(`log follow: raw WebSocket ${raw.map((r) => round(r, 1)).join(", ")} MiB/s; followed ${rates.map((r) => round(r, 1)).join(", ")} MiB/s`);
  // the first step is sideBySide's unmeasured warm-up, whose code was still being compiled
  const median = (of: keyof FollowCpu) => Math.round(percentile(cpu.slice(1).map((c) => c[of]), 50));
  console.error(`log follow: CPU ms per followed step (medians): coordinator ${median("coordinator")}, agent and step ${median("agent")}, follower ${median("follower")}`);
  const ratio = value / baseline;
  return {
    log_follow_mb_s: { value: round(value, 1), unit: "MiB/s", baseline: round(baseline, 1), ratio: round(ratio), target: target("≥ 70% of raw WS", ratio >= 0.7) },
  };
}

/** `bun run bench log-follow`: the follow figure alone, as the full run measures it within `storage`. */
export const logFollowBench: Benchmark = { name: "log-follow", onlyByName: true, run: logFollow };
