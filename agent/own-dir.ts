import { join } from "node:path";

/** The agent's own dir under its work root (0700), per name, so that agents sharing a work root stay distinct. */
export function ownDir(workDir: string, name: string): string {
  return join(workDir, `agent-${name}`);
}

/** Where the agent keeps its last checkouts' work trees (agent/checkout/kept-trees.ts): in its own dir, out of every step's reach. */
export function keptCheckoutsDir(workDir: string, name: string): string {
  return join(ownDir(workDir, name), "checkouts");
}
