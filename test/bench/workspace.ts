import { randomFillSync } from "node:crypto";
import { closeSync, mkdirSync, mkdtempSync, openSync, rmSync, writeFileSync, writeSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type Figure, MiB, percentile, round, rssNow, runToEnd, sampleRss, target, withCluster } from "./lib.ts";

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

/** MiB/s of `tar cf - | tar xf -` of the same data into another directory; median of 3. */
async function tarBaseline(src: string, scratch: string): Promise<number> {
  const rates: number[] = [];
  for (let i = 0; i < 3; i++) {
    const dest = join(scratch, "tar-copy");
    mkdirSync(dest);
    try {
      await sync();
      const t0 = performance.now();
      const proc = Bun.spawn(["bash", "-c", 'tar cf - -C "$1" . | tar xf - -C "$2"', "tar", src, dest], { stderr: "pipe" });
      if ((await proc.exited) !== 0) throw new Error(`tar failed: ${await new Response(proc.stderr).text()}`);
      rates.push(TOTAL / MiB / ((performance.now() - t0) / 1000));
    } finally {
      rmSync(dest, { recursive: true, force: true });
    }
  }
  console.error(`workspace: tar | tar ${rates.map((r) => round(r)).join(", ")} MiB/s`);
  return percentile(rates, 50);
}

interface WorkspaceView {
  tasks: { name: string; attempts: { steps: { startedAt: number; endedAt: number }[] }[] }[];
}

/**
 * ~1 GiB of mixed files through save_to_workspace and restore_workspace: `build` copies them into its
 * work dir and saves them, `use` restores them. The two steps' durations as the agent reported them.
 */
export async function workspace(): Promise<Record<string, Figure>> {
  const scratch = mkdtempSync(join(tmpdir(), "drover-bench-ws-"));
  try {
    const data = join(scratch, "data");
    mkdirSync(data);
    let t0 = performance.now();
    generate(data);
    console.error(`workspace: generated ${round(TOTAL / MiB)} MiB in ${FILES} files in ${round((performance.now() - t0) / 1000, 1)} s`);
    const baseline = await tarBaseline(data, scratch);
    const pipeline = [
      "tasks:",
      "  build:",
      "    steps:",
      // Moved, not copied (one file system): the data stays clean in the page cache, as for the baseline.
      `      - run: mv '${data}' ws && sync`,
      "      - save_to_workspace: { paths: ['ws/**'] }",
      "  use:",
      "    depends: [build]",
      "    steps:",
      // The baseline starts with nothing left to write back; so does the restore.
      "      - run: sync",
      "      - restore_workspace: {}",
      "      - run: du -sb ws && find ws -type f | wc -l",
      "",
    ].join("\n");
    await sync();
    return await withCluster({ agentFlags: ["--capacity", "1"] }, async (cluster) => {
      const pid = cluster.coordinator.proc.pid;
      const before = rssNow(pid);
      const rss = sampleRss(pid, 20);
      let peak: number;
      let id: string;
      t0 = performance.now();
      try {
        id = await runToEnd(cluster, pipeline, 600_000);
      } finally {
        peak = rss.stop();
      }
      console.error(`workspace: run took ${round((performance.now() - t0) / 1000, 1)} s`);
      const { body } = await cluster.api<WorkspaceView>("GET", `/api/v1/runs/${id}`);
      const step = (task: string, index: number) => body.tasks.find((t) => t.name === task)!.attempts[0]!.steps[index]!;
      const seconds = (s: { startedAt: number; endedAt: number }) => (s.endedAt - s.startedAt) / 1000;
      const [save, restore] = [seconds(step("build", 1)), seconds(step("use", 1))];
      // "<bytes>\tws\n<files>\n"
      const words = (await cluster.log(id, "use", 2)).trim().split(/\s+/);
      const [du, count] = [words[0], words.at(-1)];
      if (Number(du) < TOTAL || Number(count) !== FILES) throw new Error(`restored ${du} bytes in ${count} files, expected ${TOTAL}+ in ${FILES}`);
      const value = TOTAL / MiB / (save + restore);
      const growth = peak - before;
      console.error(`workspace: save ${round(save, 1)} s, restore ${round(restore, 1)} s; coordinator RSS ${round(before, 1)} → ${round(peak, 1)} MiB`);
      return {
        workspace_mb_s: {
          value: round(value, 1),
          unit: "MiB/s",
          baseline: round(baseline, 1),
          ratio: round(value / baseline),
          target: target("≥ 60% of tar", value / baseline >= 0.6),
        },
        workspace_rss_growth_mb: { value: round(growth, 1), unit: "MiB", target: target("< 64 MiB", growth < 64) },
      };
    });
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}
