/** @jsxImportSource hono/jsx */
import type { Services } from "../services.ts";
import type { ProjectRow } from "../projects/projects.ts";
import { listRuns } from "../runs/list-runs.ts";
import { atLeast } from "./auth.ts";
import { ago, isoTime, seg } from "./format.ts";
import { Action, Badge, Layout, type Viewer } from "./layout.tsx";
import { Commit, headline, RunLink, refName } from "./source.tsx";

type Run = Awaited<ReturnType<typeof listRuns>>[number];

/** The state a run shows in a branch's row: its result once finished, its phase until then. */
const state = (r: Run) => (r.phase === "finished" ? r.result : r.phase);

/** A project's recent runs grouped by what they built (branch, tag or pull request), newest first in each. */
async function runsByBranch(services: Services, project: ProjectRow, limit: number) {
  const byBranch = new Map<string, Run[]>();
  for (const run of await listRuns(services.db, { project: project.name, limit })) {
    const key = refName(run.source) || "(no branch)";
    byBranch.set(key, [...(byBranch.get(key) ?? []), run]);
  }
  return [...byBranch];
}

/** One row per branch: its latest run in full, the ones before as small coloured links. */
const BranchRows = ({ branches }: { branches: [string, Run[]][] }) => (
  <>
    {branches.map(([branch, [latest, ...earlier]]) => (
      <tr data-branch={branch}>
        <td class="small">{branch}</td>
        <td>
          <RunLink run={latest!} />
        </td>
        <td>
          <Badge value={state(latest!)} field="state" />
        </td>
        <td>
          <Commit source={latest!.source} />
        </td>
        <td class="small" title={latest!.source?.message ?? ""}>
          {headline(latest!.source?.message)}
        </td>
        <td title={isoTime(latest!.createdAt)}>{ago(latest!.createdAt)}</td>
        <td>
          {earlier.slice(0, 8).map((r) => (
            <a class={`chip s-${state(r)}`} href={`/runs/${seg(r.id)}`} title={state(r)}>
              #{r.number}
            </a>
          ))}
        </td>
      </tr>
    ))}
  </>
);

const BranchTable = ({ branches }: { branches: [string, Run[]][] }) =>
  branches.length === 0 ? (
    <p class="empty">No runs yet.</p>
  ) : (
    <table class="list branches">
      <thead>
        <tr>
          <th>Branch</th>
          <th>Latest run</th>
          <th>State</th>
          <th>Commit</th>
          <th>Message</th>
          <th>Started</th>
          <th>Before</th>
        </tr>
      </thead>
      <tbody>
        <BranchRows branches={branches} />
      </tbody>
    </table>
  );

/** Every project with its branches' latest runs. */
export async function ProjectsPage({ services, viewer }: { services: Services; viewer: Viewer }) {
  const projects = await services.projects.list();
  const sections = await Promise.all(projects.map(async (p) => ({ project: p, branches: await runsByBranch(services, p, 100) })));
  return (
    <Layout title="Projects" page="projects" viewer={viewer}>
      <div class="title-row">
        <h1>Projects</h1>
        <span class="muted">{projects.length}</span>
      </div>
      {projects.length === 0 && (
        <p class="empty">
          No projects yet: <code>drover project add NAME --repo URL</code> connects a repository.
        </p>
      )}
      {sections.map(({ project, branches }) => (
        <section class="project" data-project={project.name}>
          <h2>
            <a href={`/projects/${seg(project.name)}`}>{project.name}</a> <span class="muted small">{project.repoUrl}</span>
          </h2>
          <BranchTable branches={branches.slice(0, 10)} />
        </section>
      ))}
    </Layout>
  );
}

/** One project: its settings, its branches' runs, a button to run the default branch; undefined when there is no such project. */
export async function ProjectPage({ services, viewer, name }: { services: Services; viewer: Viewer; name: string }) {
  const project = await services.projects.get(name);
  if (!project) return undefined;
  const branches = await runsByBranch(services, project, 300);
  return (
    <Layout title={project.name} page="project" viewer={viewer}>
      <div class="title-row">
        <h1>{project.name}</h1>
        <div class="actions">
          <a class="btn" href={`/?project=${seg(project.name)}`}>
            All runs
          </a>
          <a class="btn" href={`/projects/${seg(project.name)}/deliveries`}>
            Webhook deliveries
          </a>
          {atLeast(viewer.principal, "member") && (
            <Action api={`/projects/${seg(project.name)}/runs`} body={{}} label={`Run ${project.defaultBranch}`} then="open-run" kind="primary" />
          )}
        </div>
      </div>
      <dl class="facts">
        <dt>Repository</dt>
        <dd class="mono small">{project.repoUrl}</dd>
        <dt>Forge</dt>
        <dd>{project.forge}</dd>
        <dt>Default branch</dt>
        <dd>{project.defaultBranch}</dd>
        <dt>Pipeline</dt>
        <dd class="mono small">{project.pipelinePath}</dd>
        {project.apiUrl && <dt>Forge API</dt>}
        {project.apiUrl && <dd class="mono small">{project.apiUrl}</dd>}
        <dt>Created</dt>
        <dd title={isoTime(project.createdAt)}>
          {ago(project.createdAt)} by {project.user}
        </dd>
      </dl>
      <BranchTable branches={branches} />
    </Layout>
  );
}
