import type { TaskSpec } from "../../shared/pipeline/index.ts";
import type { CheckoutSpec } from "../../shared/protocol/index.ts";
import type { RunSource } from "../../shared/source.ts";
import type { Credentials, Forge } from "./credentials.ts";
import { fetchRef } from "./refs.ts";

/** What an assignment needs of a run's project to check out its commit. */
export interface CheckoutAccess {
  url: string;
  forge: Forge;
  credentials: Credentials | null;
}

const DEFAULT_OPTIONS = { depth: null, submodules: false, path: "" };

/** The checkout a repository task does before its first step: its run's commit, with the task's `checkout:` options. */
export function checkoutFor(source: RunSource | null, spec: TaskSpec, access: CheckoutAccess | null): CheckoutSpec | null {
  const options = spec.checkout ?? DEFAULT_OPTIONS;
  if (!access || !source?.sha || options === false) return null;
  return { url: access.url, sha: source.sha, ref: fetchRef(source, access.forge), ...options, credentials: access.credentials };
}

/**
 * Why a task cannot run at all: its run's project was deleted while it waited, so the commit it would check
 * out has no repository any more. Null when it can run (no project, nothing to check out, or the project is there).
 */
export function checkoutUnavailable(run: { projectId: string | null; project: string | null; source: RunSource | null }, spec: TaskSpec, access: CheckoutAccess | null): string | null {
  if (!run.projectId || access || !run.source?.sha || spec.checkout === false) return null;
  return `project ${run.project} was deleted: its repository is gone, so the commit ${run.source.sha.slice(0, 12)} cannot be checked out`;
}

/** The task environment's view of the source; every name is set, empty when not known. Never credentials. */
export function sourceEnv(run: { project: string | null; number: number | null; source: RunSource | null }): Record<string, string> {
  const s = run.source;
  return {
    DROVER_PROJECT: run.project ?? "",
    DROVER_RUN_NUMBER: run.number === null ? "" : String(run.number),
    DROVER_EVENT: s?.event ?? "",
    DROVER_REPO_URL: s?.repoUrl ?? "",
    DROVER_COMMIT_SHA: s?.sha ?? "",
    DROVER_COMMIT_REF: s?.ref ?? "",
    DROVER_BRANCH: s?.branch ?? "",
    DROVER_TAG: s?.tag ?? "",
    DROVER_PR_NUMBER: s?.pr ? String(s.pr.number) : "",
    DROVER_PR_SOURCE_BRANCH: s?.pr?.sourceBranch ?? "",
    DROVER_PR_TARGET_BRANCH: s?.pr?.targetBranch ?? "",
    DROVER_COMMIT_MESSAGE: s?.message ?? "",
    DROVER_COMMIT_AUTHOR: s?.author ?? "",
  };
}
