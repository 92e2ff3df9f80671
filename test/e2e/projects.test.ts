import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { type Cluster, startCluster } from "../helpers/cluster.ts";
import { type GitServer, startGitServer } from "../helpers/git-server.ts";
import { waitFor } from "../helpers/processes.ts";

let cluster: Cluster;
let server: GitServer;
let repo: string;

const PIPELINE = `tasks:
  show:
    steps:
      - run: |
          echo "project=$DROVER_PROJECT number=$DROVER_RUN_NUMBER event=$DROVER_EVENT"
          echo "sha=$DROVER_COMMIT_SHA ref=$DROVER_COMMIT_REF branch=$DROVER_BRANCH tag=$DROVER_TAG"
          echo "message=$DROVER_COMMIT_MESSAGE author=$DROVER_COMMIT_AUTHOR repo=$DROVER_REPO_URL"
`;

type Project = { name: string; hook_url: string; hook_secret?: string; api_url: string | null; repo: { credentials: string | null } };
type Run = { id: string; project: string | null; number: number | null; group: string; source: Record<string, unknown> | null };
type ApiError = { error: { code: string; message: string; details?: { errors: string[] } } };

beforeAll(async () => {
  server = startGitServer();
  repo = server.createRepo("acme/app.git", { private: true });
  cluster = await startCluster();
  await cluster.startAgent("p1");
}, 60_000);
afterAll(async () => {
  await cluster?.stop();
  await server?.stop();
});

describe("projects", () => {
  test("created with a token, listed and shown without it; bad input is a 400 naming the field", async () => {
    const created = await cluster.api<Project>("POST", "/api/v1/projects", {
      name: "app",
      repo: { url: repo, forge: "github", credentials: { token: server.token } },
    });
    expect(created.status).toBe(201);
    expect(created.body.hook_url).toBe(`${cluster.coordinator.url}/api/v1/projects/app/hook`);
    expect(created.body.hook_secret).toMatch(/^[0-9a-f]{64}$/);
    expect(created.body.api_url).toBe(`${server.url}/api/v3`);
    expect(created.body.repo.credentials).toBe("token");
    const shown = await cluster.api<Project>("GET", "/api/v1/projects/app");
    const listed = await cluster.api<{ projects: Project[] }>("GET", "/api/v1/projects");
    for (const body of [shown.body, listed.body]) {
      expect(JSON.stringify(body)).not.toContain(server.token);
      expect(JSON.stringify(body)).not.toContain(created.body.hook_secret!);
    }
    expect(listed.body.projects.map((p) => p.name)).toEqual(["app"]);
    // stored encrypted: the database file does not hold the token either
    const db = readFileSync(join(cluster.dir, "data", "drover.db"));
    expect(db.includes(Buffer.from(server.token))).toBe(false);

    const again = await cluster.api<ApiError>("POST", "/api/v1/projects", { name: "app", repo: { url: repo } });
    expect(again.status).toBe(409);
    const bad = await cluster.api<ApiError>("POST", "/api/v1/projects", { name: "x y", repo: { url: "-oops", forge: "svn" } });
    expect(bad.status).toBe(400);
    for (const field of ["name", "repo.url", "repo.forge"]) expect(bad.body.error.message).toContain(field);
    const inUrl = await cluster.api<ApiError>("POST", "/api/v1/projects", { name: "b", repo: { url: "https://u:secret@host/r.git" } });
    expect(inUrl.body.error.message).toContain("repo.credentials");
    const poll = await cluster.api<ApiError>("POST", "/api/v1/projects", { name: "b", repo: { url: repo }, poll: "1s" });
    expect(poll.status).toBe(400);
    expect(poll.body.error.message).toContain("poll");
  });

  test("a manual run reads the pipeline at the branch's commit, is numbered, and its tasks see the source", async () => {
    const first = await server.commit("acme/app.git", { ".drover.yml": PIPELINE, "README.md": "one" }, { message: "first commit" });
    const second = await server.commit("acme/app.git", { "README.md": "two" }, { message: "second commit" });
    const started = await cluster.api<Run>("POST", "/api/v1/projects/app/runs", {});
    expect(started.status).toBe(201);
    expect(started.body).toMatchObject({ project: "app", number: 1, group: "app" });
    expect(started.body.source).toMatchObject({ event: "manual", sha: second, branch: "main", ref: "refs/heads/main", message: "second commit", author: "Drover Test", trigger: "admin", repoUrl: repo });
    expect((await cluster.waitRun(started.body.id)).result).toBe("success");
    expect(await cluster.log(started.body.id, "show", 0)).toBe(
      `project=app number=1 event=manual\nsha=${second} ref=refs/heads/main branch=main tag=\nmessage=second commit author=Drover Test repo=${repo}\n`,
    );
    const bySha = await cluster.api<Run>("POST", "/api/v1/projects/app/runs", { sha: first.slice(0, 10) });
    expect(bySha.status).toBe(201);
    expect(bySha.body.number).toBe(2);
    expect(bySha.body.source).toMatchObject({ sha: first, branch: null });
    await server.git("acme/app.git", "tag", "v1.0", first);
    await server.git("acme/app.git", "push", "-q", "origin", "v1.0");
    const byTag = await cluster.api<Run>("POST", "/api/v1/projects/app/runs", { tag: "v1.0" });
    expect(byTag.body.source).toMatchObject({ sha: first, tag: "v1.0", ref: "refs/tags/v1.0" });
    const listed = await cluster.api<{ runs: Run[] }>("GET", "/api/v1/runs?project=app&event=manual");
    expect(listed.body.runs.map((r) => r.number)).toEqual([3, 2, 1]);
    expect((await cluster.api<{ runs: Run[] }>("GET", "/api/v1/runs?project=app&branch=main")).body.runs.map((r) => r.number)).toEqual([1]);
    // the coordinator's mirror fetched with the token without writing it anywhere under its data dir
    const mirrors = join(cluster.dir, "data", "mirrors");
    expect(readdirSync(mirrors)).toHaveLength(1);
    expect(Bun.spawnSync(["grep", "-rlF", server.token, mirrors]).stdout.toString()).toBe("");
  }, 60_000);

  test("a branch the repository lacks, a commit without a pipeline and an invalid pipeline are 400s that say so", async () => {
    const nope = await cluster.api<ApiError>("POST", "/api/v1/projects/app/runs", { branch: "nope" });
    expect(nope.status).toBe(400);
    expect(nope.body.error.message).toContain("has no branch nope");
    await server.commit("acme/app.git", { ".drover.yml": null }, { branch: "bare", message: "no pipeline" });
    const none = await cluster.api<ApiError>("POST", "/api/v1/projects/app/runs", { branch: "bare" });
    expect(none.status).toBe(400);
    expect(none.body.error.message).toContain("has no .drover.yml");
    await server.commit("acme/app.git", { ".drover.yml": "tasks:\n  a:\n    stepz: []\n" }, { branch: "broken" });
    const broken = await cluster.api<ApiError>("POST", "/api/v1/projects/app/runs", { branch: "broken" });
    expect(broken.status).toBe(400);
    expect(broken.body.error.code).toBe("invalid_pipeline");
    expect(broken.body.error.details!.errors).toContain('.drover.yml:2:3: tasks.a: missing required key "steps"');
    const two = await cluster.api<ApiError>("POST", "/api/v1/projects/app/runs", { branch: "main", tag: "v1.0" });
    expect(two.status).toBe(400);
    const unknown = await cluster.api<ApiError>("POST", "/api/v1/projects/nope/runs", {});
    expect(unknown.status).toBe(404);
  }, 60_000);

  test("a repository the coordinator cannot fetch is a 400 with git's reason and no token", async () => {
    const wrong = await cluster.api<Project>("POST", "/api/v1/projects", {
      name: "wrong-token",
      repo: { url: repo, forge: "gitea", credentials: "not-the-token" },
    });
    expect(wrong.status).toBe(201);
    const res = await cluster.api<ApiError>("POST", "/api/v1/projects/wrong-token/runs", {});
    expect(res.status).toBe(400);
    expect(res.body.error.message).toContain("cannot fetch");
    expect(res.body.error.message).not.toContain("not-the-token");
    expect((await cluster.api("DELETE", "/api/v1/projects/wrong-token")).status).toBe(200);
    expect((await cluster.api("GET", "/api/v1/projects/wrong-token")).status).toBe(404);
    await waitFor("its mirror to go", () => readdirSync(join(cluster.dir, "data", "mirrors")).length === 1);
  }, 60_000);
});
