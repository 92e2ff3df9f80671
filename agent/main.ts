import { Agent } from "./agent.ts";
import { parseAgentConfig, USAGE } from "./config.ts";
import { makeUndumpable } from "./executor/undumpable.ts";

if (process.argv.includes("--help") || process.argv.includes("-h")) {
  console.log(`usage: ${USAGE}`);
  process.exit(0);
}
// before anything else: the token may be in this process's environment
makeUndumpable();
let agent: Agent;
try {
  const config = parseAgentConfig(process.argv.slice(2));
  // read: no process the agent starts (its watchdog, git, bwrap) inherits it
  delete process.env.DROVER_AGENT_TOKEN;
  agent = new Agent(config);
} catch (e) {
  console.error(`drover-agent: ${(e as Error).message}`);
  process.exit(2);
}
// A failure in work nobody awaits is logged: the agent keeps its lease and its other attempts.
process.on("unhandledRejection", (e) => console.error("[agent] unhandled failure:", e));
let terms = 0;
// First SIGTERM drains; a second one (or SIGQUIT) cancels what is still running.
process.on("SIGTERM", () => (++terms === 1 ? agent.drain() : agent.cancelAll()));
process.on("SIGQUIT", () => agent.cancelAll());
process.on("SIGINT", () => (++terms === 1 ? agent.drain() : agent.cancelAll()));
agent.start();
process.exit(await agent.done);
