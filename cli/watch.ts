import type { RunSummary, RunView } from "./api-types.ts";
import type { Client } from "./client.ts";
import { followRun } from "./follow.ts";
import { askOnInterrupt } from "./interrupt.ts";
import { paint, printJson, runLabel, statusColour } from "./output.ts";
import { runUrl, summaryTable } from "./run-report.ts";

/**
 * Follows a run for a person (run, rerun, restart, project run): its address first, then its logs and
 * what it waits for, a table of its tasks at the end; Ctrl-C asks whether to cancel or detach.
 * Resolves to the exit code: 0 when the run succeeded.
 */
export async function watchRun(client: Client, run: string, { json = false, before }: { json?: boolean; before?: RunView } = {}): Promise<number> {
  if (!json) console.log(`run ${run}: ${runUrl(client.url, run)}`);
  const stopAsking = askOnInterrupt(client, run);
  try {
    const ended = await followRun({ client, run, print: !json, before });
    if (json) printJson(ended);
    else {
      console.log(`\n${summaryTable(ended)}\n`);
      const why = ended.error ? ` (${ended.error})` : "";
      console.log(paint(`run ${runLabel(ended)} ${ended.phase}: ${ended.result}${why}`, statusColour(ended.result)));
    }
    return ended.result === "success" ? 0 : 1;
  } finally {
    stopAsking();
  }
}

/** What `drover run` and `drover project run` do with the run they started. */
export function followToEnd(client: Client, created: RunSummary, json = false): Promise<number> {
  console.error(`run ${runLabel(created)}${created.project ? ` (${created.id})` : ""} in group ${created.group}`);
  return watchRun(client, created.id, { json });
}
