import { parseFlags, UsageError } from "../args.ts";
import { Client } from "../client.ts";
import type { Command } from "../command.ts";
import { printJson } from "../output.ts";

/** The value comes from stdin when not given, so it stays out of shell history and `ps`. */
async function readValue(given: string | undefined): Promise<string> {
  if (given !== undefined) return given;
  if (process.stdin.isTTY) process.stderr.write("value: ");
  const text = await new Response(Bun.stdin.stream()).text();
  return text.replace(/\r?\n$/, "");
}

export const secret: Command = {
  name: "secret",
  summary: "set, list or delete a run group's secrets and variables (secrets are encrypted and never shown)",
  usage: "drover secret set GROUP NAME [VALUE] [--variable] | drover secret list GROUP [--json] | drover secret rm GROUP NAME",
  async run(argv) {
    const { values, positionals } = parseFlags(argv, { variable: { type: "boolean" }, json: { type: "boolean" } });
    const [action, group, name, value] = positionals;
    if (!group) throw new UsageError("which run group?");
    const client = new Client();
    const base = `/api/v1/groups/${encodeURIComponent(group)}`;
    switch (action) {
      case "set": {
        if (!name) throw new UsageError("which name?");
        const kind = values.variable ? "variables" : "secrets";
        await client.json("PUT", `${base}/${kind}/${encodeURIComponent(name)}`, { value: await readValue(value) });
        console.log(`${values.variable ? "variable" : "secret"} ${name} set for group ${group}`);
        return 0;
      }
      case "list": {
        const listed = await client.json<{ values: { name: string; secret: boolean; value: string | null }[] }>("GET", `${base}/values`);
        if (values.json) printJson(listed.values);
        else for (const v of listed.values) console.log(v.secret ? `${v.name} (secret)` : `${v.name}=${v.value}`);
        return 0;
      }
      case "rm": {
        if (!name) throw new UsageError("which name?");
        await client.json("DELETE", `${base}/values/${encodeURIComponent(name)}`);
        console.log(`${name} removed from group ${group}`);
        return 0;
      }
      default:
        throw new UsageError(`unknown action "${action ?? ""}": set, list or rm`);
    }
  },
};
