import { createClient } from "@libsql/client";
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { ADMIN_TOKEN, type Cluster, ROOT, startCluster } from "../helpers/cluster.ts";
import { type GitServer, startGitServer } from "../helpers/git-server.ts";
import { startJsonReceiver } from "../helpers/json-receiver.ts";
import { killGroup, spawnTracked, waitFor } from "../helpers/processes.ts";

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
          echo "head=$(git rev-parse HEAD) readme=$(cat README.md)"
`;

type Project = { name: string; hook_url: string; hook_secret?: string; api_url: string | null; repo: { credentials: string | null } };
type Run = { id: string; project: string | null; number: number | null; group: string; source: Record<string, unknown> | null };
type ApiError = { error: { code: string; message: string; details?: { errors: string[] } } };

beforeAll(async () => {
  server = startGitServer();
  repo = server.createRepo("acme/app.git", { private: true });
  // a pipeline on main from the start, for whichever test runs first
  await server.commit("acme/app.git", { ".drover.yml": PIPELINE, "README.md": "zero" }, { message: "the pipeline" });
  cluster = await startCluster();
  await cluster.startAgent("p1");
}, 60_000);
afterAll(async () => {
  await cluster?.stop();
  await server?.stop();
});

describe("projects", () => {
  // the project every test here uses: the tests run in any order
  let created: { status: number; body: Project };
  beforeAll(async () => {
    created = await cluster.api<Project>("POST", "/api/v1/projects", {
      name: "app",
      repo: { url: repo, forge: "github", credentials: { token: server.token } },
    });
  });
  const mirrorsDir = () => join(cluster.dir, "data", "mirrors");
  const mirrorCount = () => (existsSync(mirrorsDir()) ? readdirSync(mirrorsDir()).length : 0);

  test("created with a token, listed and shown without it; bad input is a 400 naming the field", async () => {
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
    // the file's other tests add projects of their own, in whatever order the tests run
    expect(listed.body.projects.map((p) => p.name)).toContain("app");
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
    // numbered after the runs other tests of the project started
    const n = started.body.number!;
    expect(n).toBeGreaterThanOrEqual(1);
    expect(started.body).toMatchObject({ project: "app", group: "app" });
    expect(started.body.source).toMatchObject({ event: "manual", sha: second, branch: "main", ref: "refs/heads/main", message: "second commit", author: "Drover Test", trigger: "admin", repoUrl: repo });
    expect((await cluster.waitRun(started.body.id)).result).toBe("success");
    // the agent checked the commit out (its lines open the log), and the step saw the source
    const log = await cluster.log(started.body.id, "show", 0);
    expect(log).toContain(`checkout: HEAD is ${second}\n`);
    expect(log).toEndWith(
      `project=app number=${n} event=manual\nsha=${second} ref=refs/heads/main branch=main tag=\nmessage=second commit author=Drover Test repo=${repo}\nhead=${second} readme=two\n`,
    );
    expect(log).not.toContain(server.token);
    const bySha = await cluster.api<Run>("POST", "/api/v1/projects/app/runs", { sha: first.slice(0, 10) });
    expect(bySha.status).toBe(201);
    expect(bySha.body.number).toBe(n + 1);
    expect(bySha.body.source).toMatchObject({ sha: first, branch: null });
    await server.git("acme/app.git", "tag", "v1.0", first);
    await server.git("acme/app.git", "push", "-q", "origin", "v1.0");
    const byTag = await cluster.api<Run>("POST", "/api/v1/projects/app/runs", { tag: "v1.0" });
    expect(byTag.body.source).toMatchObject({ sha: first, tag: "v1.0", ref: "refs/tags/v1.0" });
    const listed = await cluster.api<{ runs: Run[] }>("GET", "/api/v1/runs?project=app&event=manual");
    const mine = (runs: Run[]) => runs.map((r) => r.number!).filter((number) => number >= n);
    expect(mine(listed.body.runs)).toEqual([n + 2, n + 1, n]);
    expect(mine((await cluster.api<{ runs: Run[] }>("GET", "/api/v1/runs?project=app&branch=main")).body.runs)).toEqual([n]);
    // the coordinator's mirror fetched with the token without writing it anywhere under its data dir
    const mirrors = join(cluster.dir, "data", "mirrors");
    expect(readdirSync(mirrors).length).toBeGreaterThanOrEqual(1);
    expect(Bun.spawnSync(["grep", "-rlF", server.token, mirrors]).stdout.toString()).toBe("");
  }, 60_000);

  test("the run-finished webhook names the project, the number and the source", async () => {
    const receiver = startJsonReceiver<{ event: string; run: Run & { phase: string } }>();
    const notices = receiver.bodies;
    try {
      expect((await cluster.api("PUT", "/api/v1/groups/app", { notify: { url: receiver.url, secret: "notify-secret" } })).status).toBe(200);
      const started = await cluster.api<Run>("POST", "/api/v1/projects/app/runs", { branch: "main" });
      await cluster.waitRun(started.body.id);
      const notice = await waitFor("the notice", () => notices.find((n) => n.run.id === started.body.id));
      expect(notice.run).toMatchObject({ project: "app", number: started.body.number, group: "app", phase: "finished" });
      expect(notice.run.source).toMatchObject({ event: "manual", branch: "main", sha: (await server.git("acme/app.git", "rev-parse", "main")).trim() });
      expect(JSON.stringify(notice)).not.toContain(server.token);
    } finally {
      await cluster.api("PUT", "/api/v1/groups/app", { notify: null });
      await receiver.stop();
    }
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
    const text = `# ${"x".repeat(1024 * 1024)}\n${PIPELINE}`;
    await server.commit("acme/app.git", { ".drover.yml": text }, { branch: "huge" });
    const huge = await cluster.api<ApiError>("POST", "/api/v1/projects/app/runs", { branch: "huge" });
    expect(huge.status).toBe(400);
    expect(huge.body.error.details!.errors).toEqual([
      `.drover.yml:1:1: .drover.yml is ${text.length} bytes at ` + (await server.git("acme/app.git", "rev-parse", "--short=12", "HEAD")).trim() + "; a pipeline file may be at most 1 MiB",
    ]);
    const two = await cluster.api<ApiError>("POST", "/api/v1/projects/app/runs", { branch: "main", tag: "v1.0" });
    expect(two.status).toBe(400);
    const unknown = await cluster.api<ApiError>("POST", "/api/v1/projects/nope/runs", {});
    expect(unknown.status).toBe(404);
  }, 60_000);

  test("a repository the coordinator cannot fetch is a 400 with git's reason and no token", async () => {
    const mirrorsBefore = mirrorCount();
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
    await waitFor("its mirror to go", () => mirrorCount() === mirrorsBefore);
  }, 60_000);

  test("a mirror whose project is gone (deleted through another node, or a removal cut short) is removed at a restart", async () => {
    // the project's own mirror, made by its first run
    const first = await cluster.api<Run>("POST", "/api/v1/projects/app/runs", {});
    await cluster.waitRun(first.body.id);
    const mirrors = mirrorsDir();
    // the app project's own mirror, named by its id (the file's other tests may leave mirrors of their own)
    const db = createClient({ url: `file:${join(cluster.dir, "data", "drover.db")}` });
    const kept = `${(await db.execute("SELECT id FROM projects WHERE name = 'app'")).rows[0]!.id}.git`;
    db.close();
    expect(readdirSync(mirrors)).toContain(kept);
    const orphan = join(mirrors, "01JORPHANED0000000000000000.git");
    mkdirSync(orphan);
    writeFileSync(join(orphan, "HEAD"), "ref: refs/heads/main\n");
    const port = new URL(cluster.coordinator.url).port;
    killGroup(cluster.coordinator.proc, "SIGTERM");
    await cluster.coordinator.proc.exited;
    await cluster.startCoordinator({}, Number(port));
    await waitFor("the orphaned mirror to go", () => !existsSync(orphan));
    // the project's own mirror stays (other tests' projects may have theirs too)
    expect(readdirSync(mirrors)).toContain(kept);
  }, 60_000);
});

describe("drover project", () => {
  const drover = async (...args: string[]) => {
    const proc = spawnTracked(["bun", join(ROOT, "cli/main.ts"), ...args], {
      cwd: cluster.dir,
      env: { DROVER_URL: cluster.coordinator.url, DROVER_TOKEN: ADMIN_TOKEN, NO_COLOR: "1" },
    });
    const [stdout, stderr, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
    return { code, stdout, stderr, output: stdout + stderr };
  };

  test("add (credentials from a file), list, run at a branch following its logs, rm", async () => {
    const file = join(cluster.dir, "clone.token");
    writeFileSync(file, `${server.token}\n`, { mode: 0o600 });
    const added = await drover("project", "add", "cli-app", "--repo", repo, "--forge", "gitea", "--credentials-file", file, "--api-url", `${server.url}/api/v1`);
    expect(added.code, added.output).toBe(0);
    expect(added.stdout).toContain(`webhook URL:    ${cluster.coordinator.url}/api/v1/projects/cli-app/hook`);
    expect(added.stdout).toMatch(/webhook secret: [0-9a-f]{64} \(shown only now\)/);
    const listed = await drover("project", "list");
    expect(listed.stdout).toMatch(new RegExp(`cli-app +gitea +${repo.replaceAll(".", "\\.")} +main +token`));
    expect(listed.output).not.toContain(server.token);
    const ran = await drover("project", "run", "cli-app", "--branch", "main");
    expect(ran.code, ran.output).toBe(0);
    expect(ran.stderr).toMatch(/^run cli-app #1 \(\S+\) in group cli-app/m);
    expect(ran.stdout).toContain("[show] project=cli-app number=1 event=manual");
    expect(ran.stdout).toContain("run cli-app #1 finished: success");
    const runs = await drover("runs", "--project", "cli-app");
    expect(runs.stdout).toMatch(/ cli-app #1 +cli-app +finished +success +manual +main +[0-9a-f]{8} +.+? +Drover Test +admin /);
    const both = await drover("project", "run", "cli-app", "--branch", "main", "--tag", "v1.0");
    expect(both.code).toBe(2);
    const missing = await drover("project", "run", "cli-app", "--branch", "nope", "--no-follow");
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain("has no branch nope");
    // a key file is an SSH key, a JSON file one of the API's shapes; anything else is a usage error
    const key = join(cluster.dir, "deploy.key");
    writeFileSync(key, "-----BEGIN OPENSSH PRIVATE KEY-----\nAAAA\n-----END OPENSSH PRIVATE KEY-----\n");
    const ssh = await drover("project", "add", "cli-ssh", "--repo", "git@git.example:acme/app.git", "--forge", "github", "--credentials-file", key, "--json");
    expect(JSON.parse(ssh.stdout)).toMatchObject({ repo: { credentials: "ssh" }, api_url: "https://git.example/api/v3" });
    const json = join(cluster.dir, "basic.json");
    writeFileSync(json, JSON.stringify({ username: "deploy", password: "pw" }));
    const basic = await drover("project", "add", "cli-basic", "--repo", repo, "--credentials-file", json, "--json");
    expect(JSON.parse(basic.stdout)).toMatchObject({ repo: { credentials: "token", forge: "git" }, api_url: null });
    writeFileSync(json, "two\nlines\n");
    const bad = await drover("project", "add", "cli-bad", "--repo", repo, "--credentials-file", json);
    expect([bad.code, bad.stderr]).toEqual([2, expect.stringContaining("expected one token, a key or JSON")]);
    expect((await drover("project", "rm", "cli-app")).code).toBe(0);
    expect((await drover("project", "list", "--json")).stdout).not.toContain("cli-app");
  }, 60_000);
});
