import { existsSync, readFileSync } from "node:fs";
import { noExtra, parseFlags, UsageError } from "../args.ts";
import type { Command } from "../command.ts";
import { paint } from "../output.ts";

export const lint: Command = {
  name: "lint",
  summary: "check a pipeline file offline and print every error at once (file:line:col: message)",
  usage: "drover lint [-f .drover.yml]",
  async run(argv) {
    const { values, positionals } = parseFlags(argv, { file: { type: "string", short: "f", default: ".drover.yml" } });
    noExtra(positionals);
    if (!existsSync(values.file)) throw new UsageError(`no pipeline file ${values.file} (-f names another one; drover init writes a starter)`);
    // loaded here: the parser pulls in zod, which the other client verbs do without
    const { parsePipeline } = await import("../../shared/pipeline/index.ts");
    const result = parsePipeline(readFileSync(values.file, "utf8"), values.file);
    if (!result.ok) {
      for (const error of result.errors) console.error(error);
      console.error(paint(`${values.file}: ${result.errors.length} error${result.errors.length === 1 ? "" : "s"}`, "red"));
      return 1;
    }
    const tasks = result.pipeline.tasks;
    console.log(paint(`${values.file}: ok, ${tasks.length} task${tasks.length === 1 ? "" : "s"} (${tasks.map((t) => t.name).join(", ")})`, "green"));
    return 0;
  },
};
