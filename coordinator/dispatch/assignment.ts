import type { Assignment } from "../../shared/protocol/index.ts";
import { type CheckoutAccess, checkoutFor, sourceEnv } from "../projects/checkout.ts";
import type { ActiveRun, AttemptRow } from "../runs/active-run.ts";
import type { ResolvedValues } from "../secrets/group-values.ts";

/**
 * Everything an agent needs to run one attempt; the agent adds what only it knows (agent, arch, work dir).
 * `repo` is the run's project's clone access (null for runs without a project): the checkout carries its
 * credentials to the agent's git, and nothing else does. A pull request from a fork gets none of the group's
 * secrets: its code is not the project's, and could send them anywhere.
 */
export function buildAssignment(
  active: ActiveRun,
  attempt: AttemptRow,
  arch: string,
  group: ResolvedValues,
  repo: CheckoutAccess | null = null,
): Assignment {
  const task = active.tasks.get(attempt.taskId)!;
  const fromFork = active.run.source?.pr?.fromFork === true;
  return {
    attempt: attempt.id,
    run: active.run.id,
    task: task.name,
    number: attempt.number,
    arch,
    env: {
      ...task.spec.env,
      ...(fromFork ? group.plain : group.env),
      ...active.run.variables,
      CI: "true",
      DROVER: "true",
      DROVER_RUN_ID: active.run.id,
      DROVER_TASK: task.name,
      DROVER_ATTEMPT: String(attempt.number),
      ...sourceEnv(active.run),
    },
    workspace: active.run.workspace,
    timeoutMs: task.spec.timeoutMs ?? null,
    secrets: fromFork ? [] : group.secrets,
    steps: task.spec.steps,
    sandbox: task.spec.sandbox ?? false,
    network: task.spec.network ?? false,
    memoryBytes: task.spec.resources?.memoryBytes ?? null,
    checkout: checkoutFor(active.run.source, task.spec, repo),
  };
}
