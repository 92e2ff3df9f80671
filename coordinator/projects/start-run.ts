import { type Pipeline, parsePipeline } from "../../shared/pipeline/index.ts";
import type { RunSource } from "../../shared/source.ts";
import type { Db } from "../db/open.ts";
import type { RunRow } from "../runs/active-run.ts";
import { createRun } from "../runs/create-run.ts";
import type { Scheduler } from "../runs/scheduler.ts";
import { triggerRefusal, unchangedTasks } from "./filter.ts";
import { GitError } from "./git.ts";
import { isSha, type Mirror, PipelineTooLarge } from "./mirror.ts";
import type { ProjectRow, Projects } from "./projects.ts";
import { fetchRef } from "./refs.ts";

export interface ProjectRunDeps {
  db: Db;
  scheduler: Scheduler;
  projects: Projects;
}

export type StartOutcome =
  | { outcome: "created"; run: RunRow }
  /** the pipeline's `on:` does not take this event, branch, tag or target branch */
  | { outcome: "filtered"; reason: string }
  /** the commit has no pipeline file at the project's pipeline path */
  | { outcome: "no_pipeline"; reason: string }
  /** the file is there but invalid: `errors` are `file:line:col: message` */
  | { outcome: "invalid_pipeline"; reason: string; errors: string[] }
  /** the repository could not be fetched, or the commit is not in it; the reason is git's, credentials hidden */
  | { outcome: "unreachable"; reason: string };

/**
 * Starts a run of a project at the commit `source.sha` names. This is the one way repository runs begin:
 * webhook deliveries, polling and manual runs all come through here.
 *
 * - Fetches what the source needs into the project's bare mirror (its branch, tag or PR head; a PR's target
 *   branch for the merge base) and reads the pipeline file at that commit, so the run keeps its commit's config.
 * - Answers `filtered` when `on:` does not take the source, `no_pipeline` / `invalid_pipeline` when the
 *   commit has no valid pipeline, `unreachable` when git cannot fetch the commit. None of these creates a run
 *   or throws: the caller records the outcome (a delivery's) or answers with it (a manual run's 400).
 * - Otherwise creates the run: group the project's name, number the project's next, `source` as given (its
 *   repoUrl defaulted to the project's), and tasks whose `changed:` globs match no file the push (before..sha)
 *   or pull request (merge base..head) changed start out skipped. Without that information (a new branch,
 *   a manual run, a tag) every task runs.
 *
 * Throws only for what is not the repository's fault (the database).
 */
export async function startProjectRun(deps: ProjectRunDeps, project: ProjectRow, source: RunSource): Promise<StartOutcome> {
  if (!isSha(source.sha)) return { outcome: "unreachable", reason: `the source names no commit sha (got ${source.sha ?? "none"})` };
  const sha = source.sha;
  const mirror = deps.projects.mirror(project);
  const file = project.pipelinePath;
  const read = await mirror
    .exclusive(async () => {
      const ref = fetchRef(source, project.forge);
      await mirror.ensureCommit(sha, ref ? [ref] : []);
      const text = await mirror.readFile(sha, file);
      return { text };
    })
    .catch((e: unknown) => {
      if (e instanceof GitError || e instanceof PipelineTooLarge) return { failure: e };
      throw e;
    });
  if ("failure" in read) {
    const reason = read.failure.message;
    if (read.failure instanceof PipelineTooLarge) return { outcome: "invalid_pipeline", reason, errors: [`${file}:1:1: ${reason}`] };
    return { outcome: "unreachable", reason };
  }
  if (read.text === undefined) return { outcome: "no_pipeline", reason: `commit ${sha.slice(0, 12)} has no ${file}` };
  const parsed = parsePipeline(read.text, file);
  if (!parsed.ok) return { outcome: "invalid_pipeline", reason: parsed.errors.join("\n"), errors: parsed.errors };
  const refusal = triggerRefusal(parsed.pipeline, source);
  if (refusal) return { outcome: "filtered", reason: refusal };
  const changed = parsed.pipeline.tasks.some((t) => t.changed) ? await changedFiles(mirror, source, sha).catch(() => null) : null;
  const skip = changed ? unchangedTasks(parsed.pipeline, changed) : undefined;
  const run = await createRun(deps.db, deps.scheduler, {
    pipeline: read.text,
    pipelineFile: file,
    parsed: source.pr?.fromFork && project.forkApproval ? withForkApproval(parsed.pipeline) : parsed.pipeline,
    group: project.name,
    user: source.trigger,
    project: { id: project.id, name: project.name },
    source: { ...source, repoUrl: source.repoUrl ?? project.repoUrl },
    skip,
  });
  return { outcome: "created", run };
}

/**
 * What the source changed: a push's before..sha, a pull request's merge base..head. Null when that cannot be
 * known (a new branch, a manual run, a before the mirror cannot get): then no task is skipped.
 */
async function changedFiles(mirror: Mirror, source: RunSource, sha: string): Promise<string[] | null> {
  return mirror.exclusive(async () => {
    if (source.event === "push" && isSha(source.before)) {
      await mirror.ensureCommit(source.before, []);
      return mirror.changedFiles(source.before, sha);
    }
    if (source.event === "pull_request" && source.pr) {
      const target = `refs/heads/${source.pr.targetBranch}`;
      await mirror.fetch([`+${target}:${target}`]);
      const base = await mirror.mergeBase(target, sha);
      return base ? mirror.changedFiles(base, sha) : null;
    }
    return null;
  });
}

/** `fork_approval: true`: a fork's code runs nowhere until someone approves each task (one approver at least). */
function withForkApproval(pipeline: Pipeline): Pipeline {
  const tasks = pipeline.tasks.map((t) => ({ ...t, approval: { minApprovers: Math.max(1, t.approval?.minApprovers ?? 0) } }));
  return { ...pipeline, tasks };
}
