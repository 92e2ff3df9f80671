import type { AttemptHistoryItem, AttemptList, AttemptStats, TaskStats } from "../api-types.ts";
import { noExtra, parseFlags, parseSince, UsageError } from "../args.ts";
import { Client } from "../client.ts";
import type { Command } from "../command.ts";
import { bytes, duration, paint, printJson, statusColour, table, when } from "../output.ts";

const ms = (n: number | null) => (n === null ? "-" : duration(0, n));
const cpu = (n: number | null) => (n === null ? "-" : `${n.toFixed(2)}s`);

function attemptsTable(rows: AttemptHistoryItem[]): string {
  const cells = rows.map((a) => [
    a.runId,
    a.taskName,
    String(a.number),
    a.state,
    a.exitCode === null ? "-" : String(a.exitCode),
    a.agentName ?? a.agentId ?? "-",
    when(a.readyAt),
    duration(a.startedAt, a.endedAt),
    cpu(a.cpuSeconds),
    bytes(a.peakRssBytes),
    a.digest.slice(0, 12),
  ]);
  const STATE = 3;
  const colour = (cell: string, row: number, col: number) => (col === STATE ? paint(cell, statusColour(rows[row]!.state)) : cell);
  return table(["RUN", "TASK", "#", "STATE", "EXIT", "AGENT", "READY", "DURATION", "CPU", "PEAK RSS", "DIGEST"], cells, colour);
}

function statsTable(stats: TaskStats[]): string {
  const cells = stats.map((s) => [
    s.name,
    String(s.count),
    ms(s.p50DurationMs),
    ms(s.p95DurationMs),
    bytes(s.p50PeakRssBytes),
    bytes(s.p95PeakRssBytes),
    cpu(s.meanCpuSeconds),
  ]);
  return table(["TASK", "COUNT", "P50", "P95", "P50 RSS", "P95 RSS", "MEAN CPU"], cells);
}

export const tasks: Command = {
  name: "tasks",
  summary: "task attempt history across runs, newest first; --stats for per-task p50/p95 of successful attempts",
  usage: "drover tasks [--name N] [--digest D] [--run R] [--since 7d] [--limit N] [--stats] [--json]",
  async run(argv) {
    const { values, positionals } = parseFlags(argv, {
      name: { type: "string" },
      digest: { type: "string" },
      run: { type: "string" },
      since: { type: "string" },
      limit: { type: "string" },
      stats: { type: "boolean" },
      json: { type: "boolean" },
    });
    noExtra(positionals);
    if (values.limit !== undefined && !/^[1-9]\d*$/.test(values.limit)) throw new UsageError("--limit wants a positive number");
    if (values.stats && (values.digest || values.run)) throw new UsageError("--stats takes --name, --since and --limit only");
    const query = new URLSearchParams();
    for (const key of ["name", "digest", "run", "limit"] as const) if (values[key]) query.set(key, values[key]);
    if (values.since) query.set("since", String(parseSince(values.since)));
    const client = new Client();
    if (values.stats) {
      const { stats } = await client.json<AttemptStats>("GET", `/api/v1/attempts/stats?${query}`);
      if (values.json) printJson(stats);
      else console.log(statsTable(stats));
      return 0;
    }
    const { attempts } = await client.json<AttemptList>("GET", `/api/v1/attempts?${query}`);
    if (values.json) printJson(attempts);
    else console.log(attemptsTable(attempts));
    return 0;
  },
};
