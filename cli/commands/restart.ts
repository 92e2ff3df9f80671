import type { RunSummary } from "../api-types.ts";
import { noExtra, parseFlags, UsageError } from "../args.ts";
import { Client } from "../client.ts";
import type { Command } from "../command.ts";
import { printJson } from "../output.ts";

export const restart: Command = {
  name: "restart",
  summary: "start a new run of an ended run's pipeline; --failed keeps the tasks that succeeded",
  usage: "drover restart RUN [--failed] [--json]",
  async run(argv) {
    const { values, positionals } = parseFlags(argv, { failed: { type: "boolean" }, json: { type: "boolean" } });
    const [run, ...extra] = positionals;
    if (!run) throw new UsageError("which run? (drover runs lists them)");
    noExtra(extra);
    const from = values.failed ? "failed" : "scratch";
    const created = await new Client().json<RunSummary>("POST", `/api/v1/runs/${encodeURIComponent(run)}/restart`, { from });
    if (values.json) printJson(created);
    else console.log(`run ${created.id} restarts ${run} from ${from}`);
    return 0;
  },
};
