import { createHash } from "node:crypto";
import { mkdirSync } from "node:fs";
import { dirname, resolve } from "node:path";
import type { Artifact } from "../api-types.ts";
import { noExtra, parseFlags, UsageError } from "../args.ts";
import { Client, ClientError } from "../client.ts";
import type { Command } from "../command.ts";
import { bytes, printJson, table } from "../output.ts";
import { progressBar } from "../progress.ts";

/** Streams one artifact to disk with a progress bar, checking its sha256 on the way. */
async function download(client: Client, artifact: Artifact, dir: string): Promise<string> {
  const target = resolve(dir, artifact.task, artifact.path);
  if (!target.startsWith(resolve(dir))) throw new ClientError(`artifact path ${artifact.path} leaves ${dir}`);
  mkdirSync(dirname(target), { recursive: true });
  const res = await client.request("GET", artifact.url);
  const hash = createHash("sha256");
  const progress = progressBar({ label: `${artifact.task}/${artifact.path}`, total: artifact.size });
  const writer = Bun.file(target).writer();
  for await (const chunk of res.body!) {
    hash.update(chunk);
    writer.write(chunk);
    progress.add(chunk.length);
  }
  await writer.end();
  progress.done();
  const sum = hash.digest("hex");
  if (sum !== artifact.sha256) throw new ClientError(`${artifact.path}: sha256 ${sum} does not match ${artifact.sha256}`);
  return target;
}

export const artifacts: Command = {
  name: "artifacts",
  summary: "list a run's artifacts, or download them (checked against their sha256)",
  usage: "drover artifacts RUN [--download DIR] [--json]",
  async run(argv) {
    const { values, positionals } = parseFlags(argv, { download: { type: "string" }, json: { type: "boolean" } });
    const [run, ...extra] = positionals;
    if (!run) throw new UsageError("which run? (drover runs lists them)");
    noExtra(extra);
    const client = new Client();
    const { artifacts: list } = await client.json<{ artifacts: Artifact[] }>("GET", `/api/v1/runs/${encodeURIComponent(run)}/artifacts`);
    if (values.download) {
      const saved = [];
      for (const artifact of list) saved.push(await download(client, artifact, values.download));
      if (values.json) printJson(saved);
      else console.log(`downloaded ${saved.length} artifact(s) to ${values.download}`);
      return 0;
    }
    if (values.json) printJson(list);
    else console.log(table(["task", "path", "size", "sha256"], list.map((a) => [a.task, a.path, bytes(a.size), a.sha256.slice(0, 12)])));
    return 0;
  },
};

