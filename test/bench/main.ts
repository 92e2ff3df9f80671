/**
 * `bun run bench [NAME…]`: runs the benchmarks (all, or those named), prints a
 * table and records the figures in test/bench/results.json.
 */
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { checkoutBench } from "./checkout.ts";
import { dispatch } from "./dispatch.ts";
import { engine } from "./engine.ts";
import { failover } from "./failover.ts";
import { fleet } from "./fleet.ts";
import { history } from "./history.ts";
import type { Benchmark, Figure } from "./lib.ts";
import { log } from "./log-throughput.ts";
import { sandbox } from "./sandbox.ts";
import { storage } from "./storage.ts";
import { throughput } from "./throughput.ts";
import { webhook } from "./webhook.ts";

const benchmarks: Benchmark[] = [engine, dispatch, log, throughput, history, fleet, storage, webhook, checkoutBench, sandbox, failover];
const RESULTS = join(import.meta.dir, "results.json");

const names = process.argv.slice(2);
const unknown = names.filter((n) => !benchmarks.some((b) => b.name === n));
if (unknown.length) {
  console.error(`unknown benchmark ${unknown.join(", ")}; known: ${benchmarks.map((b) => b.name).join(", ")}`);
  process.exit(2);
}
const selected = names.length ? benchmarks.filter((b) => names.includes(b.name)) : benchmarks;

// Kept from earlier runs, so that running one benchmark does not drop the others' latest figures.
const results: Record<string, Omit<Figure, "target">> = existsSync(RESULTS) ? JSON.parse(readFileSync(RESULTS, "utf8")) : {};
const rows: [string, Figure][] = [];
let failed = false;
for (const bench of selected) {
  console.error(`running ${bench.name}…`);
  try {
    for (const [name, { target, ...figure }] of Object.entries(await bench.run())) {
      results[name] = figure;
      rows.push([name, { target, ...figure }]);
    }
  } catch (e) {
    failed = true;
    console.error(`benchmark ${bench.name} failed:`, e);
  }
}
writeFileSync(RESULTS, `${JSON.stringify(results, null, 2)}\n`);

const header = ["figure", "value", "unit", "baseline", "ratio", "target"];
const cells = rows.map(([name, f]) => [name, String(f.value), f.unit, String(f.baseline ?? ""), String(f.ratio ?? ""), f.target ?? ""]);
const widths = header.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i]!.length)));
const line = (c: string[]) => `| ${c.map((s, i) => s.padEnd(widths[i]!)).join(" | ")} |`;
console.log([line(header), line(widths.map((w) => "-".repeat(w))), ...cells.map(line)].join("\n"));
process.exit(failed ? 1 : 0);
