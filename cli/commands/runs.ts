import type { RunList } from "../api-types.ts";
import { noExtra, parseFlags, UsageError } from "../args.ts";
import { Client } from "../client.ts";
import type { Command } from "../command.ts";
import { duration, paint, printJson, statusColour, table, when } from "../output.ts";

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
    noExtra(positionals);
    if (values.limit !== undefined && !/^[1-9]\d*$/.test(values.limit)) throw new UsageError("--limit wants a positive number");
    const query = new URLSearchParams();
    for (const key of ["group", "phase", "limit"] as const) if (values[key]) query.set(key, values[key]);
    const { runs } = await new Client().json<RunList>("GET", `/api/v1/runs?${query}`);
    if (values.json) {
      printJson(runs);
      return 0;
    }
    const rows = runs.map((r) => [r.id, r.group, r.phase, r.result, when(r.createdAt), duration(r.startedAt, r.endedAt)]);
    const RESULT = 3;
    const colour = (cell: string, row: number, col: number) => (col === RESULT ? paint(cell, statusColour(runs[row]!.result)) : cell);
    console.log(table(["ID", "GROUP", "PHASE", "RESULT", "CREATED", "DURATION"], rows, colour));
    return 0;
  },
};
