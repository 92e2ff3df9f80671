/**
 * `bun run bench [NAME…]`: runs the benchmarks (all but the opt-in ones, or those named) in rounds,
 * prints a table and records the figures in test/bench/results.json. Rounds go across the benchmarks
 * (each round runs every benchmark still taking part), so a figure's rounds see the machine at different
 * moments; each figure is the best of its rounds, with all of them kept. `BENCH_ROUNDS` (default 3)
 * caps the rounds; a benchmark takes part in `rounds` of them (default 1).
 */
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { bestOf, spread } from "./best.ts";
import { checkoutBench } from "./checkout.ts";
import { dispatch } from "./dispatch.ts";
import { engine } from "./engine.ts";
import { failover } from "./failover.ts";
import { clusterThroughput } from "./cluster-throughput.ts";
import { fleet } from "./fleet.ts";
import { history } from "./history.ts";
import type { Benchmark, Figure } from "./lib.ts";
import { load } from "./load.ts";
import { logFollowBench } from "./log-follow.ts";
import { log } from "./log-throughput.ts";
import { s3Presigned } from "./s3-presigned.ts";
import { sandbox } from "./sandbox.ts";
import { scale } from "./scale.ts";
import { storage } from "./storage.ts";
import { throughput } from "./throughput.ts";
import { webhook } from "./webhook.ts";

// The checkout goes first: on ext4 without a journal, creating a file scans past every inode freed in the last
// minutes (`recently_deleted`), so after the benchmarks that delete gigabytes of workspaces and thousands of attempt
// dirs it measured their leftovers (0.36 → 5.3 s for the same code), not the checkout. Its own rounds still delete a
// checkout before the next, as an agent does between attempts.
const benchmarks: Benchmark[] = [
  checkoutBench,
  engine,
  dispatch,
  log,
  throughput,
  load,
  history,
  fleet,
  storage,
  webhook,
  sandbox,
  failover,
  clusterThroughput,
  s3Presigned,
  scale,
  logFollowBench,
];
const RESULTS = join(import.meta.dir, "results.json");
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);

const names = process.argv.slice(2);
const unknown = names.filter((n) => !benchmarks.some((b) => b.name === n));
if (unknown.length) {
  console.error(`unknown benchmark ${unknown.join(", ")}; known: ${benchmarks.map((b) => b.name).join(", ")}`);
  process.exit(2);
}
if (!(ROUNDS >= 1)) {
  console.error(`BENCH_ROUNDS must be a number ≥ 1, not ${process.env.BENCH_ROUNDS}`);
  process.exit(2);
}
const selected = names.length ? benchmarks.filter((b) => names.includes(b.name)) : benchmarks.filter((b) => !b.onlyByName);

const measured = new Map<Benchmark, Map<string, Figure[]>>();
let failed = false;
const rounds = Math.min(ROUNDS, Math.max(...selected.map((b) => b.rounds ?? 1)));
for (let r = 1; r <= rounds; r++) {
  for (const bench of selected.filter((b) => (b.rounds ?? 1) >= r)) {
    console.error(`running ${bench.name}${rounds > 1 ? ` (round ${r} of ${Math.min(rounds, bench.rounds ?? 1)})` : ""}…`);
    try {
      const figures = measured.get(bench) ?? new Map<string, Figure[]>();
      measured.set(bench, figures);
      const add = (measured: Record<string, Figure>) => {
        for (const [name, figure] of Object.entries(measured)) figures.set(name, [...(figures.get(name) ?? []), figure]);
      };
      await bench.run().then(add, (e: Error & { figures?: Record<string, Figure> }) => {
        // a benchmark that failed part way may hand over what it did measure
        if (e.figures) add(e.figures);
        throw e;
      });
    } catch (e) {
      failed = true;
      console.error(`benchmark ${bench.name} failed:`, e);
    }
  }
}

// Kept from earlier runs (read now, not at the start, so that a run alongside this one keeps its figures too),
// so that running one benchmark does not drop the others' latest figures.
type Stored = Omit<Figure, "target">;
const results: Record<string, Stored | Record<string, Stored>> = existsSync(RESULTS)
  ? JSON.parse(readFileSync(RESULTS, "utf8"))
  : {};
const rows: [string, Figure][] = [];
for (const [bench, figures] of measured) {
  if (bench.section && !results[bench.section]) results[bench.section] = {};
  const into = (bench.section ? results[bench.section] : results) as Record<string, Stored>;
  for (const [name, all] of figures) {
    const { target, ...figure } = bestOf(all);
    into[name] = figure;
    rows.push([bench.section ? `${bench.section}.${name}` : name, { target, ...figure }]);
  }
}
writeFileSync(RESULTS, `${JSON.stringify(results, null, 2)}\n`);

const header = ["figure", "value", "unit", "baseline", "ratio", "rounds", "target"];
const cells = rows.map(([name, f]) => [
  name,
  String(f.value),
  f.unit,
  String(f.baseline ?? ""),
  String(f.ratio ?? ""),
  spread(f),
  f.target ?? "",
]);
const widths = header.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i]!.length)));
const line = (c: string[]) => `| ${c.map((s, i) => s.padEnd(widths[i]!)).join(" | ")} |`;
console.log([line(header), line(widths.map((w) => "-".repeat(w))), ...cells.map(line)].join("\n"));
process.exit(failed ? 1 : 0);
