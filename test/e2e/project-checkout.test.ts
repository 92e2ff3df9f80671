import { afterAll, beforeAll, expect, test } from "bun:test";
import { readdirSync } from "node:fs";
import { join } from "node:path";
import { type Cluster, startCluster } from "../helpers/cluster.ts";
import { waitFor } from "../helpers/processes.ts";
import { deliver, giteaPush } from "../helpers/forge-deliveries.ts";
import { type GitServer, startGitServer } from "../helpers/git-server.ts";
import { leakCheckScript, sampleCmdlines, tokenForms } from "../helpers/token-leaks.ts";

// Project runs through a real coordinator and two real agents, each with its own mirror, from a private
// repository on the test git server.
let cluster: Cluster;
let server: GitServer;
let repo: string;
let hook: { hook_url: string; hook_secret: string };

type Run = { id: string; source: { sha: string } };

beforeAll(async () => {
  server = startGitServer();
  repo = server.createRepo("acme/shop.git", { private: true });
  cluster = await startCluster();
  await cluster.startAgent("m1");
  await cluster.startAgent("m2");
  const created = await cluster.api<{ hook_url: string; hook_secret: string }>("POST", "/api/v1/projects", {
    name: "shop",
    repo: { url: repo, forge: "gitea", credentials: server.token },
  });
  expect(created.status).toBe(201);
  hook = created.body;
}, 60_000);
afterAll(async () => {
  await cluster?.stop();
  await server?.stop();
});

const startRun = async (body: Record<string, string>) => {
  const res = await cluster.api<Run>("POST", "/api/v1/projects/shop/runs", body);
  if (res.status !== 201) throw new Error(`run not started: ${JSON.stringify(res.body)}`);
  return res.body;
};
const mirrorsOf = (agent: string) => join(cluster.dir, `agent-${agent}`, "git-mirrors");

test("two agents check out the run's commit each through its own mirror; the token is in no argv, env, log or file", async () => {
  const look = leakCheckScript(server.token).replaceAll("\n", "\n          ");
  const pipeline = `tasks:
  left:
    steps:
      - run: |
          ${look}
          sleep 1
  right:
    checkout: { path: src, depth: 1 }
    steps:
      - run: |
          cd src
          ${look}
          echo "shallow=$(git rev-parse --is-shallow-repository)"
          sleep 1
`;
  await server.commit("acme/shop.git", { ".drover.yml": pipeline, "app.txt": "v1\n" });
  const sampler = sampleCmdlines(tokenForms(server.token));
  const run = await startRun({ branch: "main" });
  const view = await cluster.waitRun(run.id, 60_000);
  expect(sampler.stop()).toEqual([]);
  expect(view.result).toBe("success");
  // capacity 1 each and both tasks ready at once: one task per agent, so each agent filled a mirror of its own
  expect(new Set(view.tasks.map((t) => t.attempts[0]!.agentId)).size).toBe(2);
  for (const agent of ["m1", "m2"]) {
    const names = readdirSync(mirrorsOf(agent)).filter((n) => n.endsWith(".git"));
    expect(names).toHaveLength(1);
    expect(Bun.spawnSync(["grep", "-rlaF", server.token, mirrorsOf(agent)]).stdout.toString()).toBe("");
  }
  for (const task of ["left", "right"]) {
    const log = await cluster.log(run.id, task, 0);
    expect(log).toContain(`checkout: ${repo} at ${run.source.sha} (refs/heads/main) into ${task === "left" ? "the work dir" : "src"}\n`);
    expect(log).toContain(`head=${run.source.sha} origin=${repo}\n`);
    expect(log).toContain("CHECKED");
    expect(log).not.toContain("LEAK");
    for (const form of tokenForms(server.token)) expect(log).not.toContain(form);
  }
  expect(await cluster.log(run.id, "right", 0)).toContain("shallow=true");
}, 90_000);

test("a commit a force-push removed from its branch before the checkout fails the task with a clear error", async () => {
  const pipeline = `tasks:
  wait:
    checkout: false
    steps: [ { run: sleep 2 } ]
  build:
    depends: [wait]
    steps: [ { run: git rev-parse HEAD } ]
`;
  // a commit under the doomed one, to rewind to: the repository may have none yet (the tests run in any order)
  await server.commit("acme/shop.git", { "base.txt": "base\n" }, { branch: "topic" });
  const doomed = await server.commit("acme/shop.git", { ".drover.yml": pipeline, "app.txt": "doomed\n" }, { branch: "topic" });
  const run = await startRun({ branch: "topic" });
  expect(run.source.sha).toBe(doomed);
  // while `wait` sleeps, topic is rewritten: its new head does not contain the run's commit
  await server.git("acme/shop.git", "reset", "-q", "--hard", "HEAD~1");
  await server.git("acme/shop.git", "commit", "-q", "--allow-empty", "-m", "rewritten");
  await server.git("acme/shop.git", "push", "-q", "-f", "origin", "HEAD:refs/heads/topic");
  const view = await cluster.waitRun(run.id, 60_000);
  expect(view.result).toBe("failed");
  const build = view.tasks.find((t) => t.name === "build")!;
  expect(build.attempts.at(-1)!.error).toBe(`checkout of ${repo} failed: commit ${doomed} is not in refs/heads/topic any more (a force-push removed it?)`);
  expect(await cluster.log(run.id, "build", 0)).toContain(`error: checkout of ${repo} failed: commit ${doomed} is not in refs/heads/topic any more`);
}, 90_000);

test("a project deleted while its run waits: a task that would check out fails saying so; a checkout: false task never checked out", async () => {
  const created = await cluster.api("POST", "/api/v1/projects", { name: "gone", repo: { url: repo, forge: "gitea", credentials: server.token } });
  expect(created.status).toBe(201);
  const pipeline = `tasks:
  wait:
    checkout: false
    steps: [ { run: 'if [ -e .git ]; then echo checked out; else echo no checkout; fi; sleep 3' } ]
  build:
    depends: [wait]
    steps: [ { run: git rev-parse HEAD } ]
`;
  const sha = await server.commit("acme/shop.git", { ".drover.yml": pipeline }, { branch: "gone" });
  const res = await cluster.api<Run>("POST", "/api/v1/projects/gone/runs", { branch: "gone" });
  expect(res.status).toBe(201);
  type View = { tasks: { name: string; status: string; attempts: { agentId: string | null; error: string | null }[] }[] };
  await waitFor("wait to run", async () => (await cluster.api<View>("GET", `/api/v1/runs/${res.body.id}`)).body.tasks.find((t) => t.name === "wait")?.status === "running");
  expect((await cluster.api("DELETE", "/api/v1/projects/gone")).status).toBe(200);
  const view = await cluster.waitRun(res.body.id, 60_000);
  expect(view.result).toBe("failed");
  const build = view.tasks.find((t) => t.name === "build")!;
  expect(build.attempts).toHaveLength(1);
  expect(build.attempts[0]).toMatchObject({ agentId: null, error: `project gone was deleted: its repository is gone, so the commit ${sha.slice(0, 12)} cannot be checked out` });
  expect(view.tasks.find((t) => t.name === "wait")!.status).toBe("success");
  expect(await cluster.log(res.body.id, "wait", 0)).toBe("no checkout\n");
}, 90_000);

test("a pushed delivery's changed: skips the tasks whose files it did not touch; a dependant that takes on_skipped still runs", async () => {
  const pipeline = `tasks:
  docs:
    changed: ['docs/**']
    steps: [ { run: cat docs/index.md } ]
  web:
    changed: 'web/**'
    steps: [ { run: cat web/app.js } ]
  after-docs:
    depends: { docs: [on_success, on_skipped] }
    checkout: false
    steps: [ { run: echo after } ]
  needs-docs:
    depends: [docs]
    steps: [ { run: echo never } ]
`;
  const before = await server.commit("acme/shop.git", { ".drover.yml": pipeline, "docs/index.md": "docs 1\n", "web/app.js": "web 1\n" }, { branch: "changes" });
  const after = await server.commit("acme/shop.git", { "web/app.js": "web 2\n" }, { branch: "changes", message: "web only" });
  const push = giteaPush("refs/heads/changes", before, after, "web only");
  push.repository.clone_url = repo;
  const res = await deliver(hook.hook_url, "gitea", "push", hook.hook_secret, push, "changes-1");
  expect(res.status).toBe(201);
  const runId = ((await res.json()) as { run: { id: string } }).run.id;
  const view = await cluster.waitRun(runId, 60_000);
  expect(view.result).toBe("success");
  const byName = Object.fromEntries(view.tasks.map((t) => [t.name, t.status]));
  expect(byName).toEqual({ docs: "skipped", web: "success", "after-docs": "success", "needs-docs": "skipped" });
  expect(await cluster.log(runId, "web", 0)).toEndWith("web 2\n");
}, 90_000);
