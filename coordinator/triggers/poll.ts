import { and, eq, isNotNull, ne, notInArray } from "drizzle-orm";
import { polledHeads, projects as projectsTable } from "../db/schema.ts";
import { git } from "../projects/git.ts";
import type { ProjectRow } from "../projects/projects.ts";
import { type ProjectRunDeps, startProjectRun } from "../projects/start-run.ts";

/** `git ls-remote --heads` output as branch → sha. */
export function parseHeads(out: string): Map<string, string> {
  const heads = new Map<string, string>();
  for (const line of out.split("\n")) {
    const [sha, ref] = line.split("\t");
    if (sha && ref?.startsWith("refs/heads/")) heads.set(ref.slice("refs/heads/".length), sha);
  }
  return heads;
}

/**
 * Polls the heads of projects that ask for it (`poll: 2m`), each at most once per its interval, and starts a
 * run for each head not seen before; the pipeline's `on:` decides, as for a push. Seen heads are stored, so a
 * restart (or a second coordinator) builds no head twice. On a project's first poll only the default branch
 * builds: the other branches' heads are taken as seen.
 */
export class ProjectPoller {
  private readonly lastPass = new Map<string, number>();
  private readonly inFlight = new Map<string, Promise<void>>();

  constructor(private readonly deps: ProjectRunDeps) {}

  /**
   * Starts the passes that are due; each runs in the background, so a slow remote holds up nothing else. Returns
   * when the next pass of the projects polled now falls due (none: Infinity).
   */
  async tick(now: number): Promise<number> {
    const polled = (await this.deps.db.select().from(projectsTable).where(isNotNull(projectsTable.pollMs))) as ProjectRow[];
    let next = Number.POSITIVE_INFINITY;
    for (const project of polled) {
      const last = this.lastPass.get(project.id) ?? 0;
      if (this.inFlight.has(project.id) || now - last < project.pollMs!) {
        next = Math.min(next, Math.max(last + project.pollMs!, now));
        continue;
      }
      this.lastPass.set(project.id, now);
      next = Math.min(next, now + project.pollMs!);
      const pass = this.poll(project)
        .catch((e) => console.error(`[poll] ${project.name}: ${(e as Error).message}`))
        .finally(() => this.inFlight.delete(project.id));
      this.inFlight.set(project.id, pass);
    }
    return next;
  }

  /** Waits for the passes under way, so the database is not closed beneath them. */
  async stop(): Promise<void> {
    await Promise.all(this.inFlight.values());
  }

  async poll(project: ProjectRow): Promise<void> {
    const { db, projects } = this.deps;
    const { stdout } = await git(["ls-remote", "--heads", project.repoUrl], {
      access: projects.access(project),
      timeoutMs: 60_000,
    });
    const heads = parseHeads(stdout);
    const seen = new Map(
      (await db.select().from(polledHeads).where(eq(polledHeads.projectId, project.id))).map((r) => [r.ref, r.sha]),
    );
    const first = seen.size === 0;
    // branches that are gone: forgotten, so the branch made again builds
    await db
      .delete(polledHeads)
      .where(and(eq(polledHeads.projectId, project.id), notInArray(polledHeads.ref, [...heads.keys()])));
    for (const [branch, sha] of heads) {
      if (seen.get(branch) === sha) continue;
      // the claim: only the coordinator whose write changed the stored head starts the run
      const claimed = await db
        .insert(polledHeads)
        .values({ projectId: project.id, ref: branch, sha, seenAt: Date.now() })
        .onConflictDoUpdate({
          target: [polledHeads.projectId, polledHeads.ref],
          set: { sha, seenAt: Date.now() },
          setWhere: ne(polledHeads.sha, sha),
        })
        .returning();
      if (claimed.length === 0 || (first && branch !== project.defaultBranch)) continue;
      await this.build(project, branch, sha, seen.get(branch) ?? null);
    }
  }

  private async build(project: ProjectRow, branch: string, sha: string, before: string | null): Promise<void> {
    const mirror = this.deps.projects.mirror(project);
    const ref = `refs/heads/${branch}`;
    const info = await mirror.exclusive(async () => {
      await mirror.ensureCommit(sha, [ref]);
      return mirror.commitInfo(sha);
    });
    const source = {
      event: "push",
      sha,
      ref,
      branch,
      tag: null,
      pr: null,
      before,
      message: info.message,
      author: info.author,
      repoUrl: project.repoUrl,
      trigger: "poll",
    } as const;
    const started = await startProjectRun(this.deps, project, source);
    if (started.outcome !== "created")
      console.log(`[poll] ${project.name} ${branch} ${sha.slice(0, 12)}: ${started.outcome}: ${started.reason}`);
  }
}
