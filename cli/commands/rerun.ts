import type { RunView } from "../api-types.ts";
import { noExtra, parseFlags, UsageError } from "../args.ts";
import { Client } from "../client.ts";
import type { Command } from "../command.ts";
import { watchRun } from "../watch.ts";

export const rerun: Command = {
  name: "rerun",
  summary: "run one task of a run again, in that run (its dependants that did not succeed too), and follow it",
  usage: "drover rerun RUN TASK [--no-follow] [--json]",
  async run(argv) {
    const { values, positionals } = parseFlags(argv, { "no-follow": { type: "boolean" }, json: { type: "boolean" } });
    const [run, task, ...extra] = positionals;
    if (!run || !task) throw new UsageError("which run and task? (drover runs lists runs)");
    noExtra(extra);
    const client = new Client();
    // the run before the rerun: what follows is new, however soon it ends
    const before = await client.json<RunView>("GET", `/api/v1/runs/${encodeURIComponent(run)}`);
    await client.json("POST", `/api/v1/runs/${encodeURIComponent(run)}/tasks/${encodeURIComponent(task)}/rerun`);
    if (!values.json) console.log(`rerunning ${task} in run ${run}`);
    if (values["no-follow"]) return 0;
    return watchRun(client, run, { json: values.json, before });
  },
};
