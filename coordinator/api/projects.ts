import { Hono } from "hono";
import { DroverError } from "../../shared/errors.ts";
import { durationToMs } from "../../shared/pipeline/units.ts";
import { manualSource } from "../projects/manual-run.ts";
import type { ProjectRow, Projects } from "../projects/projects.ts";
import { startProjectRun } from "../projects/start-run.ts";
import { requireRole } from "./auth.ts";
import type { AppEnv } from "./env.ts";
import { notFound } from "./errors.ts";
import { CreateProject, ProjectRunRequest } from "./openapi/requests.ts";
import { summarize } from "../runs/run-view.ts";
import { parseBody } from "./validate.ts";

const MIN_POLL_MS = 10_000;

/** 120000 → "2m": the largest unit that divides the interval, as `poll:` is written. */
function pollText(ms: number): string {
  for (const [unit, size] of [["d", 86_400_000], ["h", 3_600_000], ["m", 60_000], ["s", 1000]] as const) {
    if (ms % size === 0) return `${ms / size}${unit}`;
  }
  return `${ms}ms`;
}

/** A project as the API shows it: the kind of credentials stored, never their value, nor the webhook secret. */
function projectView(projects: Projects, row: ProjectRow, base: string) {
  return {
    id: row.id,
    name: row.name,
    repo: { url: row.repoUrl, forge: row.forge, credentials: projects.credentials(row)?.kind ?? null },
    api_url: row.apiUrl,
    default_branch: row.defaultBranch,
    pipeline_path: row.pipelinePath,
    poll: row.pollMs === null ? null : pollText(row.pollMs),
    fork_approval: row.forkApproval,
    hook_url: `${base}/api/v1/projects/${encodeURIComponent(row.name)}/hook`,
    user: row.user,
    created_at: row.createdAt,
  };
}

/** Projects: repositories Drover builds. `publicUrl` is where forges reach this coordinator, for hook_url. */
export function projectRoutes(publicUrl?: string) {
  const routes = new Hono<AppEnv>();
  const base = (url: string) => publicUrl?.replace(/\/$/, "") ?? new URL(url).origin;

  const load = async (projects: Projects, name: string) => {
    const project = await projects.get(name);
    if (!project) throw notFound(`project ${name}`);
    return project;
  };

  routes.post("/", requireRole("admin"), async (c) => {
    const body = await parseBody(c, CreateProject);
    const pollMs = body.poll === undefined ? null : durationToMs(body.poll);
    if (pollMs !== null && pollMs < MIN_POLL_MS) throw new DroverError("bad_request", `poll: at least ${MIN_POLL_MS / 1000}s, got ${body.poll}`);
    const { projects } = c.get("services");
    const { project, hookSecret } = await projects.create({
      name: body.name,
      repo: body.repo,
      apiUrl: body.api_url,
      defaultBranch: body.default_branch,
      pipelinePath: body.pipeline_path,
      pollMs,
      forkApproval: body.fork_approval,
      user: c.get("principal").user,
    });
    return c.json({ ...projectView(projects, project, base(c.req.url)), hook_secret: hookSecret }, 201);
  });

  routes.get("/", requireRole("viewer"), async (c) => {
    const { projects } = c.get("services");
    return c.json({ projects: (await projects.list()).map((p) => projectView(projects, p, base(c.req.url))) });
  });

  routes.get("/:name", requireRole("viewer"), async (c) => {
    return c.json(projectView(c.get("services").projects, await load(c.get("services").projects, c.req.param("name")), base(c.req.url)));
  });

  routes.delete("/:name", requireRole("admin"), async (c) => {
    const name = c.req.param("name");
    const project = await load(c.get("services").projects, name);
    await c.get("services").projects.remove(name);
    return c.json({ id: project.id, deleted: true });
  });

  /** A manual run at a branch, tag or sha; whatever keeps it from starting is a 400 that says what. */
  routes.post("/:name/runs", requireRole("member"), async (c) => {
    const request = await parseBody(c, ProjectRunRequest);
    const services = c.get("services");
    const project = await load(c.get("services").projects, c.req.param("name"));
    const source = await manualSource(services.projects, project, request, c.get("principal").user);
    const started = await startProjectRun(services, project, source);
    switch (started.outcome) {
      case "created":
        return c.json(summarize(started.run), 201);
      case "invalid_pipeline":
        throw new DroverError("invalid_pipeline", started.reason, { errors: started.errors });
      default:
        throw new DroverError("bad_request", `no run (${started.outcome}): ${started.reason}`);
    }
  });

  return routes;
}
