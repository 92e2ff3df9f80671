import { Deleted } from "./admin-schemas.ts";
import { type Registry, endpoints, json, jsonBody } from "./common.ts";
import { Project, ProjectCreated, ProjectList } from "./project-schemas.ts";
import { CreateProject, ProjectRunRequest } from "./requests.ts";
import { RunSummary } from "./run-schemas.ts";

export function registerProjectPaths(registry: Registry) {
  const projects = endpoints(registry, "projects");
  projects({
    method: "post",
    path: "/api/v1/projects",
    role: "admin",
    summary: "Create a project: a repository Drover builds",
    description:
      "Credentials: a bare token string, `{token, username?}`, `{username, password}` (HTTPS) or `{ssh_key}`; stored encrypted, " +
      "given only to git, never returned. `api_url` is the forge's REST API base for commit statuses (defaulted from the repository URL). " +
      "Answers with `hook_url` and `hook_secret` (shown once) to configure the forge's webhook.",
    request: { body: jsonBody(CreateProject) },
    responses: { 201: json(ProjectCreated, "the project, with its webhook secret") },
    errors: [409],
  });
  projects({
    method: "get",
    path: "/api/v1/projects",
    role: "viewer",
    summary: "Projects",
    responses: { 200: json(ProjectList, "projects by name") },
  });
  projects({
    method: "get",
    path: "/api/v1/projects/{name}",
    role: "viewer",
    summary: "One project",
    responses: { 200: json(Project, "the project") },
  });
  projects({
    method: "delete",
    path: "/api/v1/projects/{name}",
    role: "admin",
    summary: "Delete a project and its mirror; its runs stay",
    responses: { 200: json(Deleted, "deleted") },
  });
  projects({
    method: "post",
    path: "/api/v1/projects/{name}/runs",
    role: "member",
    summary: "Start a run at a branch, tag or commit",
    description:
      "The pipeline file is read at that commit. A branch, tag or sha the repository does not have, a commit without a pipeline file, " +
      "an `on:` with `manual: false`, or an unreachable repository is a 400 saying so; an invalid pipeline file is a 400 " +
      "`invalid_pipeline` with `file:line:col` errors.",
    request: { body: jsonBody(ProjectRunRequest) },
    responses: { 201: json(RunSummary, "the queued run") },
  });
}
