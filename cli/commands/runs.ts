import type { RunSummary } from "../api-types.ts";
import { parseFlags, UsageError } from "../args.ts";
import { Client } from "../client.ts";
import type { Command } from "../command.ts";
import { duration, paint, statusColour, table } from "../output.ts";

// Sweden's locale writes the local time as "2025-01-31 14:05:00", which sorts and reads well.
const when = (ms: number) => new Date(ms).toLocaleString("sv-SE");

export const runs: Command = {
  name: "runs",
  summary: "list runs, newest first",
  usage: "drover runs [--group G] [--phase P] [--limit N] [--json]",
  async run(argv) {
    const { values, positionals } = parseFlags(argv, {
      group: { type: "string" },
      phase: { type: "string" },
      limit: { type: "string" },
      json: { type: "boolean" },
    });
    if (positionals.length) throw new UsageError(`unexpected argument "${positionals[0]}"`);
    if (values.limit !== undefined && !/^[1-9]\d*$/.test(values.limit)) throw new UsageError("--limit wants a positive number");
    const query = new URLSearchParams();
    for (const key of ["group", "phase", "limit"] as const) if (values[key]) query.set(key, values[key]);
    const { runs } = await new Client().json<{ runs: RunSummary[] }>("GET", `/api/v1/runs?${query}`);
    if (values.json) {
      console.log(JSON.stringify(runs, null, 2));
      return 0;
    }
    const rows = runs.map((r) => [r.id, r.group, r.phase, r.result, when(r.createdAt), duration(r.startedAt, r.endedAt)]);
    const RESULT = 3;
    const colour = (cell: string, row: number, col: number) => (col === RESULT ? paint(cell, statusColour(runs[row]!.result)) : cell);
    console.log(table(["ID", "GROUP", "PHASE", "RESULT", "CREATED", "DURATION"], rows, colour));
    return 0;
  },
};
