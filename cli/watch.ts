import type { Client } from "./client.ts";
import { followRun } from "./follow.ts";
import { askOnInterrupt } from "./interrupt.ts";
import { paint, printJson, statusColour } from "./output.ts";
import { runUrl, summaryTable } from "./run-report.ts";

/**
 * Follows a run for a person (run, rerun, restart): its address first, then its logs and what it
 * waits for, a table of its tasks at the end; Ctrl-C asks whether to cancel or detach.
 * Resolves to the exit code: 0 when the run succeeded.
 */
export async function watchRun(client: Client, run: string, { json = false, onlyNew = false } = {}): Promise<number> {
  if (!json) console.log(`run ${run}: ${runUrl(client.url, run)}`);
  const stopAsking = askOnInterrupt(client, run);
  try {
    const ended = await followRun({ client, run, print: !json, onlyNew });
    if (json) printJson(ended);
    else {
      console.log(`\n${summaryTable(ended)}\n`);
      console.log(paint(`run ${ended.id} ${ended.phase}: ${ended.result}${ended.error ? ` (${ended.error})` : ""}`, statusColour(ended.result)));
    }
    return ended.result === "success" ? 0 : 1;
  } finally {
    stopAsking();
  }
}
