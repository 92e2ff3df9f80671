import { randomFillSync } from "node:crypto";
import { closeSync, mkdirSync, mkdtempSync, openSync, rmSync, writeFileSync, writeSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { markTopDir } from "../../agent/runner/top-dir.ts";
import type { Cluster } from "../helpers/cluster.ts";
import { type Figure, MiB, percentile, round, rssNow, runToEnd, sampleCpu, sampleRss, target, withCluster } from "./lib.ts";

const KiB = 1024;
// 512 MiB + 20 × 20 MiB of random bytes (gzip cannot shrink them), 2000 × 64 KiB of source-like text (it can):
// 1037 MiB in all. The archive stays under the coordinator's 1 GiB cap on streamed objects.
const BIG = 512 * MiB;
const MEDIUM = { count: 20, size: 20 * MiB };
const SMALL = { count: 2000, size: 64 * KiB };
const TOTAL = BIG + MEDIUM.count * MEDIUM.size + SMALL.count * SMALL.size;
const FILES = 1 + MEDIUM.count + SMALL.count;

function writeRandom(path: string, size: number, random: Uint8Array): void {
  const fd = openSync(path, "w");
  try {
    for (let done = 0; done < size; done += random.length) writeSync(fd, random, 0, Math.min(random.length, size - done));
  } finally {
    closeSync(fd);
  }
}

function sourceLike(n: number, size: number): string {
  let text = "";
  for (let i = 0; text.length < size; i++) text += `export const value_${n}_${i} = compute(${(n * 7919 + i * 104729) % 1000003}, "${(i * 31) % 97}");\n`;
  return text.slice(0, size);
}

function generate(dir: string): void {
  // A buffer of random bytes larger than gzip's 32 KiB window, repeated: as incompressible as fresh random bytes.
  const random = randomFillSync(new Uint8Array(4 * MiB));
  writeRandom(join(dir, "big.bin"), BIG, random);
  mkdirSync(join(dir, "media"));
  for (let i = 0; i < MEDIUM.count; i++) writeRandom(join(dir, "media", `m${i}.bin`), MEDIUM.size, random.subarray(i * 1024));
  for (let d = 0; d < 20; d++) mkdirSync(join(dir, "src", `d${d}`), { recursive: true });
  for (let i = 0; i < SMALL.count; i++) writeFileSync(join(dir, "src", `d${i % 20}`, `f${i}.ts`), sourceLike(i, SMALL.size));
}

/** Writes dirty pages back, so that a measurement does not pay for the writes of the one before it. */
async function sync(): Promise<void> {
  await Bun.spawn(["sync"]).exited;
}

/** `tar | tar` itself reads anywhere from 315 to 880 MiB/s from one round to the next here: medians of five. */
const ROUNDS = 5;

/**
 * MiB/s of one `tar cf - | tar xf -` of the same data into another directory, removed afterwards.
 * Each copy goes to a directory of its own name under `copies`, which is marked as the agent marks its
 * attempts dir: without that, ext4 (no journal) puts each copy in the block group of the copy just
 * deleted and skips its deleted inodes one by one, which made every round of tar slower than the last.
 */
async function tarCopy(src: string, copies: string, round: number): Promise<number> {
  const dest = join(copies, `tar-copy-${round}`);
  mkdirSync(dest);
  try {
    await sync();
    const t0 = performance.now();
    const proc = Bun.spawn(["bash", "-c", 'tar cf - -C "$1" . | tar xf - -C "$2"', "tar", src, dest], { stderr: "pipe" });
    if ((await proc.exited) !== 0) throw new Error(`tar failed: ${await new Response(proc.stderr).text()}`);
    return TOTAL / MiB / ((performance.now() - t0) / 1000);
  } finally {
    rmSync(dest, { recursive: true, force: true });
  }
}

interface WorkspaceView {
  tasks: { name: string; attempts: { steps: { startedAt: number; endedAt: number }[] }[] }[];
}

/**
 * The agents, by label. `keeper` keeps what it saves (kept workspaces), and a restore on it moves the
 * files; a restore on `other` downloads and extracts the archive, which `plain` saved without keeping
 * it: the agents share this machine's page cache, which a fleet's machines do not, and a kept copy
 * cached for the saver would take the memory just freed that the other agent's writes find ready.
 */
type Role = "keeper" | "plain" | "other";
const AGENTS: Record<Role, string[]> = { keeper: [], plain: ["--keep-workspaces", "0"], other: [] };

/**
 * One round trip: `build` copies the data into its work dir (then syncs, as the baseline does) and saves
 * it; `use` syncs, restores and checks every file and byte came back. MiB/s over the two steps' durations
 * as the agents reported them, and the coordinator's peak RSS growth meanwhile. With the agents' pids,
 * the CPU each process used in each step is printed too.
 */
async function roundTrip(
  cluster: Cluster,
  data: string,
  saveOn: Role,
  restoreOn: Role,
  agentPids?: [number, number],
): Promise<{ rate: number; growth: number }> {
  const pipeline = [
    "tasks:",
    "  build:",
    `    labels: { role: ${saveOn} }`,
    "    steps:",
    `      - run: cp -r '${data}' ws && sync`,
    "      - save_to_workspace: { paths: ['ws/**'] }",
    "  use:",
    "    depends: [build]",
    `    labels: { role: ${restoreOn} }`,
    "    steps:",
    "      - run: sync",
    "      - restore_workspace: {}",
    "      - run: du -sb ws && find ws -type f | wc -l",
    "",
  ].join("\n");
  const pid = cluster.coordinator.proc.pid;
  const before = rssNow(pid);
  const rss = sampleRss(pid, 20);
  const cpu = agentPids ? sampleCpu([pid, ...agentPids]) : null;
  let peak: number;
  let id: string;
  try {
    id = await runToEnd(cluster, pipeline, 600_000);
  } finally {
    peak = rss.stop();
    cpu?.stop();
  }
  const { body } = await cluster.api<WorkspaceView>("GET", `/api/v1/runs/${id}`);
  const step = (task: string, index: number) => {
    const { attempts } = body.tasks.find((t) => t.name === task)!;
    // a retried attempt (one lost under load) has no end to its steps: its span would read as a negative duration
    if (attempts.length !== 1) throw new Error(`task ${task} of run ${id} took ${attempts.length} attempts: not a round trip to time`);
    return attempts[0]!.steps[index]!;
  };
  const seconds = (s: { startedAt: number; endedAt: number }) => (s.endedAt - s.startedAt) / 1000;
  const [save, restore] = [seconds(step("build", 1)), seconds(step("use", 1))];
  // "<bytes>\tws\n<files>\n"
  const words = (await cluster.log(id, "use", 2)).trim().split(/\s+/);
  const [du, count] = [words[0], words.at(-1)];
  if (Number(du) < TOTAL || Number(count) !== FILES) throw new Error(`restored ${du} bytes in ${count} files, expected ${TOTAL}+ in ${FILES}`);
  // the user's critical path: from the save's start to the restore's end, whatever ran between them
  const span = (step("use", 1).endedAt - step("build", 1).startedAt) / 1000;
  console.error(
    `workspace: save on ${saveOn} ${round(save, 2)} s, restore on ${restoreOn} ${round(restore, 2)} s, save start → restore end ${round(span, 2)} s; coordinator RSS ${round(before, 1)} → ${round(peak, 1)} MiB`,
  );
  if (cpu) {
    const used = (s: { startedAt: number; endedAt: number }, agent: number) => {
      const [coordinator, ...agents] = cpu.between(s.startedAt, s.endedAt);
      return `coordinator ${round(coordinator!, 2)}, agent ${round(agents[agent]!, 2)}`;
    };
    console.error(`workspace: CPU s in the save: ${used(step("build", 1), 0)}; in the restore: ${used(step("use", 1), 1)}`);
  }
  return { rate: TOTAL / MiB / (save + restore), growth: peak - before };
}

/**
 * ~1 GiB of mixed files through save_to_workspace and restore_workspace, restored on the agent that
 * saved it and on another, against `tar | tar` of the same data: ROUNDS rounds of one copy each,
 * interleaved, so all meet the same state of the machine; medians.
 */
export async function workspace(): Promise<Record<string, Figure>> {
  const scratch = mkdtempSync(join(tmpdir(), "drover-bench-ws-"));
  try {
    const data = join(scratch, "data");
    mkdirSync(data);
    const copies = join(scratch, "copies");
    mkdirSync(copies);
    markTopDir(copies);
    const t0 = performance.now();
    generate(data);
    console.error(`workspace: generated ${round(TOTAL / MiB)} MiB in ${FILES} files in ${round((performance.now() - t0) / 1000, 1)} s`);
    return await withCluster({ agentFlags: ["--capacity", "1", "--label", "role=keeper"] }, async (cluster) => {
      const pids: number[] = [];
      for (const role of ["plain", "other"] as const) {
        pids.push((await cluster.startAgent(role, ["--capacity", "1", "--label", `role=${role}`, ...AGENTS[role]])).proc.pid);
      }
      const tar: number[] = [];
      const here: number[] = [];
      const there: number[] = [];
      let growth = 0;
      for (let i = 0; i < ROUNDS; i++) {
        tar.push(await tarCopy(data, copies, i));
        for (const [saveOn, restoreOn, rates] of [["keeper", "keeper", here], ["plain", "other", there]] as const) {
          await sync();
          const trip = await roundTrip(cluster, data, saveOn, restoreOn, saveOn === "plain" ? [pids[0]!, pids[1]!] : undefined);
          rates.push(trip.rate);
          growth = Math.max(growth, trip.growth);
        }
      }
      const list = (rates: number[]) => rates.map((r) => round(r)).join(", ");
      console.error(`workspace: tar | tar ${list(tar)} MiB/s; save + restore on one agent ${list(here)}, on two ${list(there)} MiB/s`);
      const baseline = percentile(tar, 50);
      const figure = (rates: number[], floor: number): Figure => {
        const value = percentile(rates, 50);
        const ratio = value / baseline;
        const verdict = target(`≥ ${Math.round(floor * 100)}% of tar`, ratio >= floor);
        return { value: round(value, 1), unit: "MiB/s", baseline: round(baseline, 1), ratio: round(ratio), target: verdict };
      };
      return {
        workspace_mb_s: figure(here, 0.6),
        // issue 19's floor
        workspace_two_agents_mb_s: figure(there, 0.7),
        workspace_rss_growth_mb: { value: round(growth, 1), unit: "MiB", target: target("< 64 MiB", growth < 64) },
      };
    });
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}
