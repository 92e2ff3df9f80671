import type { TaskSpec } from "../../shared/pipeline/index.ts";
import type { ActiveRun, TaskRow } from "../runs/active-run.ts";
import { succeededAncestors } from "../runs/ancestors.ts";
import type { AgentRow, OnlineAgent, Resources } from "../fleet/fleet.ts";

/** What a task holds on its agent while it runs; tasks that ask for nothing hold no cpu or memory. */
export function requested(task: TaskSpec): Resources {
  return { cpu: task.resources?.cpu ?? 0, memoryBytes: task.resources?.memoryBytes ?? 0 };
}

/** Whether an agent could ever take the task, leaving what it is running now aside. */
export function agentMatches(row: AgentRow, task: TaskSpec): boolean {
  if (task.arch && !row.archs.includes(task.arch)) return false;
  if (task.group && row.group !== task.group) return false;
  if (task.sandbox && row.executor !== "sandbox") return false;
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

/**
 * The agents that ran the attempts whose workspaces the task restores, most recent first, each followed
 * by the agent its workspace was prefetched to (`prefetchedTo`, by saving attempt): each may hold that
 * workspace's files (agent/archive/kept.ts), which a restore there moves into place instead of
 * downloading. A saver that `keeps` nothing (`--keep-workspaces 0`) holds none. None for a task that
 * restores no workspace.
 */
export function workspaceHolders(
  active: ActiveRun,
  task: TaskRow,
  prefetchedTo: (attempt: string) => string | undefined = () => undefined,
  keeps: (agent: string) => boolean = () => true,
): string[] {
  if (!task.spec.steps.some((s) => s.kind === "restore_workspace")) return [];
  const holders = succeededAncestors(active, task)
    .filter((p) => p.task.spec.steps.some((s) => s.kind === "save_to_workspace") && p.attempt.agentId)
    .sort((a, b) => (b.attempt.endedAt ?? 0) - (a.attempt.endedAt ?? 0))
    .flatMap((p) => [keeps(p.attempt.agentId!) ? p.attempt.agentId! : [], prefetchedTo(p.attempt.id) ?? []].flat());
  return [...new Set(holders)];
}

/**
 * The first of `preferred` (agent ids) that can take the task now, else the least loaded matching agent
 * with a free slot and room for the task's resources; ties go to the smaller id. A preferred agent that
 * is busy is not waited for.
 */
export function pickAgent(
  agents: Iterable<OnlineAgent>,
  task: TaskSpec,
  preferred: readonly string[] = [],
): OnlineAgent | undefined {
  const need = requested(task);
  // one pass, no copy of the fleet: this runs for every queued attempt on every dispatch pass
  let best: OnlineAgent | undefined;
  let holder: OnlineAgent | undefined;
  let holderRank = preferred.length;
  for (const agent of agents) {
    if (!agent.socket || agent.draining || !agentMatches(agent.row, task) || !fits(agent, need)) continue;
    const rank = preferred.indexOf(agent.row.id);
    if (rank !== -1 && rank < holderRank) [holder, holderRank] = [agent, rank];
    const load = agent.running.size / agent.row.capacity;
    const bestLoad = best ? best.running.size / best.row.capacity : Infinity;
    if (load < bestLoad || (load === bestLoad && best && agent.row.id < best.row.id)) best = agent;
  }
  return holder ?? best;
}

/** Says what a task asks of its agent (only what it asks), for the status message of a task no agent can take. */
export function describeNeeds(task: TaskSpec): string {
  const needs: string[] = [];
  if (task.arch) needs.push(`arch=${task.arch}`);
  if (task.group) needs.push(`group=${task.group}`);
  if (task.sandbox) needs.push("executor=sandbox");
  for (const [k, v] of Object.entries(task.labels)) needs.push(`${k}=${v}`);
  if (task.resources?.cpu) needs.push(`cpu=${task.resources.cpu}`);
  if (task.resources?.memoryBytes) needs.push(`memory=${task.resources.memoryBytes}`);
  return needs.join(", ");
}
