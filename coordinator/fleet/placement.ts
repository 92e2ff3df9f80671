import type { TaskSpec } from "../../shared/pipeline/index.ts";
import type { AgentRow, OnlineAgent } from "./fleet.ts";

/** Whether an agent could ever take the task, leaving free capacity aside. */
export function agentMatches(row: AgentRow, task: TaskSpec): boolean {
  if (task.arch && !row.archs.includes(task.arch)) return false;
  if (task.group && row.group !== task.group) return false;
  for (const [k, v] of Object.entries(task.labels)) if (row.labels[k] !== v) return false;
  return true;
}

/** Least loaded matching agent with a free slot; ties go to the smaller id so placement is deterministic. */
export function pickAgent(agents: Iterable<OnlineAgent>, task: TaskSpec): OnlineAgent | undefined {
  let best: OnlineAgent | undefined;
  for (const agent of agents) {
    if (!agent.socket || agent.draining || agent.running.size >= agent.row.capacity) continue;
    if (!agentMatches(agent.row, task)) continue;
    const load = agent.running.size / agent.row.capacity;
    const bestLoad = best ? best.running.size / best.row.capacity : Infinity;
    if (load < bestLoad || (load === bestLoad && best && agent.row.id < best.row.id)) best = agent;
  }
  return best;
}

/** Says what a task needs, for the status message of a task no agent can take. */
export function describeNeeds(task: TaskSpec): string {
  const needs = [`arch=${task.arch ?? "any"}`, `group=${task.group ?? "any"}`];
  for (const [k, v] of Object.entries(task.labels)) needs.push(`${k}=${v}`);
  return needs.join(", ");
}
