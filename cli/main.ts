import { CommandError, UsageError } from "./args.ts";
import { commands } from "./commands/index.ts";
import { ClientError } from "./client.ts";

function help(): string {
  const width = Math.max(...commands.map((c) => c.name.length));
  return [
    "usage: drover <command> [flags]",
    "",
    ...commands.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`),
    "",
    "DROVER_URL and DROVER_TOKEN say which coordinator to talk to and as whom; for a coordinator whose",
    "certificate a private CA signed, DROVER_CA_FILE=PEM or `drover --ca-file PEM <command>`.",
  ].join("\n");
}

async function main(argv: string[]): Promise<number> {
  // a global flag before the verb: the private CA every verb's requests trust
  if (argv[0] === "--ca-file" && argv[1]) {
    process.env.DROVER_CA_FILE = argv[1];
    argv = argv.slice(2);
  }
  const [verb, ...rest] = argv;
  if (!verb || verb === "--help" || verb === "-h" || verb === "help") {
    console.log(help());
    return verb ? 0 : 2;
  }
  const command = commands.find((c) => c.name === verb);
  if (!command) {
    console.error(`drover: unknown command "${verb}"\n\n${help()}`);
    return 2;
  }
  if (rest.includes("--help") || rest.includes("-h")) {
    console.log(`${command.usage}\n\n${command.summary}`);
    return 0;
  }
  try {
    return await command.run(rest);
  } catch (e) {
    if (e instanceof UsageError) {
      console.error(`drover ${verb}: ${e.message}\nusage: ${command.usage}`);
      return 2;
    }
    if (e instanceof ClientError || e instanceof CommandError) {
      console.error(`drover ${verb}: ${e.message}`);
      return 1;
    }
    throw e;
  }
}

process.exit(await main(process.argv.slice(2)));
