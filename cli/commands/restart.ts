import type { RunSummary } from "../api-types.ts";
import { noExtra, parseFlags, UsageError } from "../args.ts";
import { Client } from "../client.ts";
import type { Command } from "../command.ts";
import { printJson } from "../output.ts";
import { watchRun } from "../watch.ts";

export const restart: Command = {
  name: "restart",
  summary: "start a new run of an ended run's pipeline and follow it; --failed keeps the tasks that succeeded",
  usage: "drover restart RUN [--failed] [--no-follow] [--json]",
  async run(argv) {
    const { values, positionals } = parseFlags(argv, {
      failed: { type: "boolean" },
      "no-follow": { type: "boolean" },
      json: { type: "boolean" },
    });
    const [run, ...extra] = positionals;
    if (!run) throw new UsageError("which run? (drover runs lists them)");
    noExtra(extra);
    const from = values.failed ? "failed" : "scratch";
    const client = new Client();
    const created = await client.json<RunSummary>("POST", `/api/v1/runs/${encodeURIComponent(run)}/restart`, { from });
    if (values["no-follow"]) {
      if (values.json) printJson(created);
      else console.log(`run ${created.id} restarts ${run} from ${from}`);
      return 0;
    }
    if (!values.json) console.log(`run ${created.id} restarts ${run} from ${from}`);
    return watchRun(client, created.id, { json: values.json });
  },
};
