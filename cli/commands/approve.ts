import { noExtra, parseFlags, UsageError } from "../args.ts";
import { Client } from "../client.ts";
import type { Command } from "../command.ts";
import { printJson } from "../output.ts";

export const approve: Command = {
  name: "approve",
  summary: "approve a task waiting for approval, as the token's user",
  usage: "drover approve RUN TASK [--json]",
  async run(argv) {
    const { values, positionals } = parseFlags(argv, { json: { type: "boolean" } });
    const [run, task, ...extra] = positionals;
    if (!run || !task) throw new UsageError("which run and task? (drover runs lists runs)");
    noExtra(extra);
    const path = `/api/v1/runs/${encodeURIComponent(run)}/tasks/${encodeURIComponent(task)}/approve`;
    const result = await new Client().json<{ task: string; approvers: string[] }>("POST", path);
    if (values.json) printJson(result);
    else console.log(`approved ${task} in run ${run}; approvers: ${result.approvers.join(", ")}`);
    return 0;
  },
};
