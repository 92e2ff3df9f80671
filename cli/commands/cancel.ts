import { noExtra, parseFlags, UsageError } from "../args.ts";
import { Client } from "../client.ts";
import type { Command } from "../command.ts";
import { printJson } from "../output.ts";

export const cancel: Command = {
  name: "cancel",
  summary: "cancel a run: running attempts are stopped, tasks not started are cancelled",
  usage: "drover cancel RUN [--json]",
  async run(argv) {
    const { values, positionals } = parseFlags(argv, { json: { type: "boolean" } });
    const [run, ...extra] = positionals;
    if (!run) throw new UsageError("which run? (drover runs lists them)");
    noExtra(extra);
    const result = await new Client().json<unknown>("POST", `/api/v1/runs/${encodeURIComponent(run)}/cancel`);
    if (values.json) printJson(result);
    else console.log(`cancel requested for run ${run}`);
    return 0;
  },
};
