import { existsSync, writeFileSync } from "node:fs";
import starter from "../starter.yml" with { type: "text" };
import { noExtra, parseFlags, UsageError } from "../args.ts";
import type { Command } from "../command.ts";

export const init: Command = {
  name: "init",
  summary: "write a commented starter pipeline (.drover.yml) in the current directory",
  usage: "drover init [-f .drover.yml] [--force]",
  async run(argv) {
    const { values, positionals } = parseFlags(argv, {
      file: { type: "string", short: "f", default: ".drover.yml" },
      force: { type: "boolean" },
    });
    noExtra(positionals);
    if (existsSync(values.file) && !values.force) throw new UsageError(`${values.file} exists (--force overwrites it)`);
    // The schema line lets editors with the YAML language server complete and check keys as you type.
    const url = (process.env.DROVER_URL ?? "http://127.0.0.1:8080").replace(/\/$/, "");
    writeFileSync(values.file, starter.replace("__DROVER_SCHEMA__", `${url}/schema/drover.json`));
    console.log(`wrote ${values.file}; check it with \`drover lint\`, run it with \`drover run\``);
    return 0;
  },
};
