import type { TaskSpec } from "../../shared/pipeline/index.ts";
import type { AgentRow, OnlineAgent, Resources } from "./fleet.ts";

/** What a task holds on its agent while it runs; tasks that ask for nothing hold no cpu or memory. */
export function requested(task: TaskSpec): Resources {
  return { cpu: task.resources?.cpu ?? 0, memoryBytes: task.resources?.memoryBytes ?? 0 };
}

/** Whether an agent could ever take the task, leaving what it is running now aside. */
export function agentMatches(row: AgentRow, task: TaskSpec): boolean {
  if (task.arch && !row.archs.includes(task.arch)) return false;
  if (task.group && row.group !== task.group) return false;
  for (const [k, v] of Object.entries(task.labels)) if (row.labels[k] !== v) return false;
  const need = requested(task);
  return need.cpu <= row.resources.cpu && need.memoryBytes <= row.resources.memoryBytes;
}

function fits(agent: OnlineAgent, need: Resources): boolean {
  if (agent.running.size >= agent.row.capacity) return false;
  let cpu = need.cpu;
  let memory = need.memoryBytes;
  for (const used of agent.running.values()) {
    cpu += used.cpu;
    memory += used.memoryBytes;
  }
  return cpu <= agent.row.resources.cpu && memory <= agent.row.resources.memoryBytes;
}

/** Least loaded matching agent with a free slot and room for the task's resources; ties go to the smaller id. */
export function pickAgent(agents: Iterable<OnlineAgent>, task: TaskSpec): OnlineAgent | undefined {
  const need = requested(task);
  let best: OnlineAgent | undefined;
  for (const agent of agents) {
    if (!agent.socket || agent.draining || !agentMatches(agent.row, task) || !fits(agent, need)) continue;
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
  if (task.resources?.cpu) needs.push(`cpu=${task.resources.cpu}`);
  if (task.resources?.memoryBytes) needs.push(`memory=${task.resources.memoryBytes}`);
  return needs.join(", ");
}
