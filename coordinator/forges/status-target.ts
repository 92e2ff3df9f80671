import type { Projects } from "../projects/projects.ts";
import type { RunRow } from "../runs/active-run.ts";
import type { CommitStatusOptions } from "./status-notifier.ts";

/**
 * Where a run's commit statuses go: its project's forge API, with the project's HTTPS token, for the commit
 * the run builds. Runs without a project or a commit, plain git projects and projects without a token (an SSH
 * deploy key cannot call an API) post none.
 */
export function statusTargets(projects: Projects): CommitStatusOptions["target"] {
  return async (run: RunRow) => {
    const sha = run.source?.sha;
    if (!run.projectId || !sha) return null;
    const project = await projects.byId(run.projectId);
    if (!project || project.forge === "git" || !project.apiUrl) return null;
    const credentials = projects.credentials(project);
    if (credentials?.kind !== "token") return null;
    const target = { forge: project.forge, apiUrl: project.apiUrl, repoUrl: project.repoUrl, token: credentials.token };
    return { target, sha, context: `drover/${project.name}` };
  };
}
