/**
 * Simulated agents for the benchmarks: fake agents (test/helpers/fake-agent.ts) that speak the real
 * protocol and spawn nothing. Run as a separate process so the coordinator is measured alone:
 *   bun test/helpers/sim-agents.ts --coordinator URL --token T --count 50 --capacity 4
 * Prints "ready N" once all N agents are registered.
 */
import { parseArgs } from "node:util";
import { startFakeAgents } from "./fake-agent.ts";

const { values } = parseArgs({
  options: {
    coordinator: { type: "string" },
    token: { type: "string" },
    count: { type: "string", default: "50" },
    capacity: { type: "string", default: "4" },
    prefix: { type: "string", default: "sim" },
  },
});
const count = Number(values.count);
await startFakeAgents({
  url: values.coordinator!,
  token: values.token!,
  count,
  capacity: Number(values.capacity),
  prefix: values.prefix,
  dynamic: true,
});
console.log(`ready ${count}`);
