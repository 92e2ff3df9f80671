import type { Assignment } from "../../shared/protocol/index.ts";
import type { ActiveRun, AttemptRow } from "../runs/active-run.ts";
import type { ResolvedValues } from "../secrets/group-values.ts";

/** Everything an agent needs to run one attempt; the agent adds what only it knows (agent, arch, work dir). */
export function buildAssignment(active: ActiveRun, attempt: AttemptRow, arch: string, group: ResolvedValues): Assignment {
  const task = active.tasks.get(attempt.taskId)!;
  return {
    attempt: attempt.id,
    run: active.run.id,
    task: task.name,
    number: attempt.number,
    arch,
    env: {
      ...task.spec.env,
      ...group.env,
      ...active.run.variables,
      CI: "true",
      DROVER: "true",
      DROVER_RUN_ID: active.run.id,
      DROVER_TASK: task.name,
      DROVER_ATTEMPT: String(attempt.number),
    },
    workspace: active.run.workspace,
    timeoutMs: task.spec.timeoutMs ?? null,
    secrets: group.secrets,
    steps: task.spec.steps,
    sandbox: task.spec.sandbox ?? false,
    network: task.spec.network ?? false,
    memoryBytes: task.spec.resources?.memoryBytes ?? null,
    checkout: null,
  };
}
