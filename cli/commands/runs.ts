import type { RunList, RunSummary } from "../api-types.ts";
import { noExtra, parseFlags, UsageError } from "../args.ts";
import { Client } from "../client.ts";
import type { Command } from "../command.ts";
import { duration, paint, printJson, statusColour, table, when } from "../output.ts";

const FILTERS = ["group", "phase", "project", "branch", "event", "limit"] as const;

/** The first line of a commit message, cut to fit a table column. */
function headline(message: string | null | undefined): string {
  const line = message?.split("\n")[0]?.trim() ?? "";
  return line.length > 40 ? `${line.slice(0, 39)}…` : line || "-";
}

function row(r: RunSummary): string[] {
  const s = r.source;
  return [
    r.id,
    r.project ? `${r.project} #${r.number}` : "-",
    r.group,
    r.phase,
    r.result,
    s?.event ?? "-",
    s?.branch ?? s?.pr?.sourceBranch ?? s?.tag ?? "-",
    s?.sha ? `${s.sha.slice(0, 8)}${s.dirty ? "+" : ""}` : "-",
    headline(s?.message),
    s?.author ?? "-",
    s?.trigger ?? r.user,
    when(r.createdAt),
    duration(r.startedAt, r.endedAt),
  ];
}

export const runs: Command = {
  name: "runs",
  summary: "list runs, newest first, with what each built (commit, branch, message, author) and who started it",
  usage: "drover runs [--group G] [--project P] [--branch B] [--event E] [--phase P] [--limit N] [--json]",
  async run(argv) {
    const { values, positionals } = parseFlags(argv, {
      group: { type: "string" },
      phase: { type: "string" },
      project: { type: "string" },
      branch: { type: "string" },
      event: { type: "string" },
      limit: { type: "string" },
      json: { type: "boolean" },
    });
    noExtra(positionals);
    if (values.limit !== undefined && !/^[1-9]\d*$/.test(values.limit)) throw new UsageError("--limit wants a positive number");
    const query = new URLSearchParams();
    for (const key of FILTERS) if (values[key]) query.set(key, values[key]);
    const { runs } = await new Client().json<RunList>("GET", `/api/v1/runs?${query}`);
    if (values.json) {
      printJson(runs);
      return 0;
    }
    const header = ["ID", "RUN", "GROUP", "PHASE", "RESULT", "EVENT", "BRANCH", "COMMIT", "MESSAGE", "AUTHOR", "TRIGGER", "CREATED", "DURATION"];
    const RESULT = header.indexOf("RESULT");
    const colour = (cell: string, row: number, col: number) => (col === RESULT ? paint(cell, statusColour(runs[row]!.result)) : cell);
    console.log(table(header, runs.map(row), colour));
    return 0;
  },
};
