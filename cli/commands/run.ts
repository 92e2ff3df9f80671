import { existsSync, readFileSync } from "node:fs";
import { userInfo } from "node:os";
import { basename, relative, resolve } from "node:path";
import { packWorkspace } from "../archive.ts";
import type { RunSummary } from "../api-types.ts";
import { noExtra, parseFlags, UsageError } from "../args.ts";
import { Client } from "../client.ts";
import type { Command } from "../command.ts";
import { multipart } from "../multipart.ts";
import { printJson } from "../output.ts";
import { progressBar } from "../progress.ts";
import { localCheckout } from "../local-checkout.ts";
import { followToEnd } from "../watch.ts";
import { workspaceFiles } from "../workspace-files.ts";

/** Direct runs of one directory share a readable group, so `drover runs --group direct/me/app` finds them. */
function directGroup(dir: string): string {
  const user = process.env.USER || userInfo().username;
  return `direct/${user}/${basename(dir) || "root"}`;
}

function parseVariables(pairs: string[]): Record<string, string> {
  const variables: Record<string, string> = {};
  for (const pair of pairs) {
    const eq = pair.indexOf("=");
    if (eq < 1) throw new UsageError(`--var wants KEY=VALUE, got "${pair}"`);
    variables[pair.slice(0, eq)] = pair.slice(eq + 1);
  }
  return variables;
}

export const run: Command = {
  name: "run",
  summary: "run the pipeline on the current directory (uploaded as the workspace) and follow it",
  usage: "drover run [-f .drover.yml] [--group G] [--var K=V]… [--json] [--no-follow]",
  async run(argv) {
    const { values, positionals } = parseFlags(argv, {
      file: { type: "string", short: "f", default: ".drover.yml" },
      group: { type: "string" },
      var: { type: "string", multiple: true },
      json: { type: "boolean" },
      "no-follow": { type: "boolean" },
    });
    noExtra(positionals);
    const variables = parseVariables(values.var ?? []);
    const client = new Client();
    const dir = process.cwd();
    const pipelinePath = resolve(dir, values.file);
    if (!existsSync(pipelinePath)) throw new UsageError(`no pipeline file ${pipelinePath} (-f names another one)`);
    const pipeline = readFileSync(pipelinePath, "utf8");
    const group = values.group ?? directGroup(dir);

    const files = workspaceFiles(dir);
    const progress = progressBar({ label: "uploading", total: files.reduce((sum, f) => sum + (f.stat.isFile() ? f.stat.size : 0), 0) });
    const fields: Record<string, string> = {
      pipeline,
      file: relative(dir, pipelinePath),
      group,
      source: JSON.stringify(localCheckout(dir)),
    };
    if (values.var) fields.variables = JSON.stringify(variables);
    const body = multipart(fields, {
      field: "workspace",
      filename: "workspace.tar.gz",
      type: "application/gzip",
      body: packWorkspace(dir, files, (n) => progress.add(n)),
    });
    const created = await client
      .request("POST", "/api/v1/runs", body.body, { "content-type": body.contentType })
      .then((res) => res.json() as Promise<RunSummary>)
      .finally(() => progress.done());
    if (values["no-follow"]) {
      if (values.json) printJson(created);
      else console.log(created.id);
      return 0;
    }
    return followToEnd(client, created, values.json);
  },
};
