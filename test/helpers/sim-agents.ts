/**
 * Simulated agents for the benchmarks: fake agents (test/helpers/fake-agent.ts) that speak the real
 * protocol and spawn nothing. Run as a separate process so the coordinator is measured alone:
 *   bun test/helpers/sim-agents.ts --coordinator URL[,URL…] --token T --count 50 --capacity 4
 * With several URLs (the nodes of a cluster) the agents are split evenly over them, so a cluster's agents cost
 * the machine one process, as one node's do. Prints "ready N" once all N agents are registered.
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
const urls = values.coordinator!.split(",");
await Promise.all(
  urls.map((url, i) =>
    startFakeAgents({
      url,
      token: values.token!,
      count: Math.floor(count / urls.length) + (i < count % urls.length ? 1 : 0),
      capacity: Number(values.capacity),
      prefix: urls.length > 1 ? `${values.prefix}${i}-` : values.prefix,
      dynamic: true,
    }),
  ),
);
console.log(`ready ${count}`);
