import { DroverError } from "../../shared/errors.ts";
import type { RunSource } from "../../shared/source.ts";
import { GitError } from "./git.ts";
import type { ProjectRow, Projects } from "./projects.ts";

export interface ManualRequest {
  branch?: string;
  tag?: string;
  sha?: string;
}

/**
 * The source of a run a person starts at a branch, tag or sha (the default branch when none is given),
 * resolved through the project's mirror. A name the repository does not have is a 400 saying so.
 */
export async function manualSource(projects: Projects, project: ProjectRow, request: ManualRequest, user: string): Promise<RunSource> {
  const mirror = projects.mirror(project);
  const branch = request.branch ?? (request.tag || request.sha ? null : project.defaultBranch);
  const ref = branch ? `refs/heads/${branch}` : request.tag ? `refs/tags/${request.tag}` : null;
  const what = branch ? `branch ${branch}` : request.tag ? `tag ${request.tag}` : `commit ${request.sha}`;
  const resolved = await mirror
    .exclusive(async () => {
      const sha = await mirror.resolve(ref ?? request.sha!);
      return sha ? { sha, ...(await mirror.commitInfo(sha)) } : undefined;
    })
    .catch((e: unknown) => {
      if (e instanceof GitError) throw new DroverError("bad_request", `cannot fetch ${project.repoUrl}: ${e.message}`);
      throw e;
    });
  if (!resolved) throw new DroverError("bad_request", `${project.name}'s repository has no ${what}`);
  return {
    event: "manual",
    sha: resolved.sha,
    ref,
    branch,
    tag: request.tag ?? null,
    pr: null,
    before: null,
    message: resolved.message,
    author: resolved.author,
    repoUrl: project.repoUrl,
    trigger: user,
  };
}
