import type { AgentList } from "../api-types.ts";
import { noExtra, parseFlags } from "../args.ts";
import { Client } from "../client.ts";
import type { Command } from "../command.ts";
import { age, type Colour, paint, printJson, table } from "../output.ts";

const STATE_COLOUR: Record<string, Colour> = { online: "green", draining: "yellow", offline: "red" };

export const agents: Command = {
  name: "agents",
  summary: "list the fleet: each agent's archs, group, labels, load, state and last heartbeat",
  usage: "drover agents [--json]",
  async run(argv) {
    const { values, positionals } = parseFlags(argv, { json: { type: "boolean" } });
    noExtra(positionals);
    const { agents } = await new Client().json<AgentList>("GET", "/api/v1/agents");
    if (values.json) {
      printJson(agents);
      return 0;
    }
    const rows = agents.map((a) => [
      a.name,
      a.archs.join(","),
      a.group,
      Object.entries(a.labels)
        .map(([k, v]) => `${k}=${v}`)
        .join(",") || "-",
      String(a.capacity),
      String(a.running.length),
      a.state,
      a.version,
      age(a.lastHeartbeatAt),
    ]);
    const STATE = 6;
    const colour = (cell: string, row: number, col: number) => (col === STATE ? paint(cell, STATE_COLOUR[agents[row]!.state] ?? "dim") : cell);
    console.log(table(["NAME", "ARCHS", "GROUP", "LABELS", "CAPACITY", "RUNNING", "STATE", "VERSION", "HEARTBEAT"], rows, colour));
    return 0;
  },
};
