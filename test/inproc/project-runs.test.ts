import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { type ProjectRow } from "../../coordinator/projects/projects.ts";
import { type StartOutcome, startProjectRun } from "../../coordinator/projects/start-run.ts";
import type { Assignment } from "../../shared/protocol/index.ts";
import { type RunSource, sourceOf } from "../../shared/source.ts";
import { type GitServer, startGitServer } from "../helpers/git-server.ts";
import { type InProcess, startInProcess } from "../helpers/in-process.ts";
import type { FakeAgent } from "../helpers/fake-agent.ts";
import { waitFor } from "../helpers/processes.ts";

/**
 * startProjectRun as the webhook receiver and polling call it, against a real git server and a real
 * coordinator (in this process) with a fake agent that holds the attempts it is given, so their
 * assignments can be read.
 */
let h: InProcess;
let server: GitServer;
let agent: FakeAgent;
let project: ProjectRow;
let repo: string;
const REPO = "acme/web.git";

const PIPELINE = `on:
  push: { branches: [main, 'release/*'], tags: ['v*'] }
  pull_request: { branches: [main] }
checkout: { depth: 5 }
tasks:
  docs:
    changed: ['docs/**']
    steps: [ { run: hold } ]
  web:
    changed: 'web/**'
    checkout: { path: src }
    steps: [ { run: hold } ]
  after-docs:
    depends: { docs: [on_success, on_skipped] }
    steps: [ { run: hold } ]
  needs-docs:
    depends: [docs]
    steps: [ { run: hold } ]
`;

type Task = { name: string; status: string; statusMessage: string | null };
const tasksOf = async (id: string) =>
  Object.fromEntries((await h.run<{ tasks: Task[] }>(id)).tasks.map((t) => [t.name, [t.status, t.statusMessage]]));
const start = (source: RunSource) => startProjectRun(h.coordinator.services, project, source);
const push = (branch: string, before: string | null, sha: string) =>
  sourceOf("push", "webhook:test", { sha, before, branch, ref: `refs/heads/${branch}`, repoUrl: repo });
const created = (outcome: StartOutcome) => {
  if (outcome.outcome !== "created") throw new Error(`expected a run, got ${JSON.stringify(outcome)}`);
  return outcome.run;
};
/**
 * The assignments the agent holds for a run, by task name, once it holds those of `tasks` (or any): the coordinator
 * may see a task running a moment before the fake agent has recorded holding it.
 */
const assignments = (run: string, ...tasks: string[]) =>
  waitFor(`assignments of ${run}`, () => {
    const held = new Map([...agent.held.values()].filter((x) => x.assignment.run === run).map((x) => [x.assignment.task, x.assignment]));
    return held.size > 0 && tasks.every((t) => held.has(t)) ? (held as Map<string, Assignment>) : undefined;
  });

let c1: string;
let c2: string;
beforeAll(async () => {
  server = startGitServer();
  repo = server.createRepo(REPO, { private: true });
  c1 = await server.commit(REPO, { ".drover.yml": PIPELINE, "docs/index.md": "1", "web/app.js": "1" }, { message: "one" });
  c2 = await server.commit(REPO, { "web/app.js": "2" }, { message: "web only" });
  h = await startInProcess();
  agent = await h.agent("holder", { capacity: 50 });
  const res = await h.api("POST", "/api/v1/projects", { name: "web", repo: { url: repo, forge: "github", credentials: server.token } });
  expect(res.status).toBe(201);
  project = (await h.coordinator.services.projects.get("web"))!;
}, 30_000);
afterAll(async () => {
  await h?.stop();
  await server?.stop();
});

describe("startProjectRun", () => {
  test("a push builds its commit: changed: skips the tasks it did not touch, dependants see them skipped, the checkout carries the token", async () => {
    const next = (await h.coordinator.services.projects.get("web"))!.nextRunNumber;
    const run = created(await start(push("main", c1, c2)));
    expect(run).toMatchObject({ project: "web", number: next, group: "web", user: "webhook:test", pipelineFile: ".drover.yml" });
    expect(run.source).toMatchObject({ event: "push", sha: c2, before: c1, branch: "main" });
    await waitFor("the run to settle", async () => (await tasksOf(run.id))["after-docs"]![0] === "running");
    expect(await tasksOf(run.id)).toEqual({
      docs: ["skipped", "no changed file matches changed: docs/**"],
      web: ["running", null],
      "after-docs": ["running", null],
      "needs-docs": ["skipped", null],
    });
    const held = await assignments(run.id, "web", "after-docs");
    const web = held.get("web")!;
    expect(web.checkout).toEqual({
      url: repo,
      sha: c2,
      ref: "refs/heads/main",
      depth: 5,
      submodules: false,
      path: "src",
      credentials: { kind: "token", username: "x-access-token", token: server.token },
    });
    expect(held.get("after-docs")!.checkout).toMatchObject({ path: "", depth: 5 });
    expect(web.env).toMatchObject({
      DROVER_PROJECT: "web",
      DROVER_RUN_NUMBER: String(next),
      DROVER_EVENT: "push",
      DROVER_COMMIT_SHA: c2,
      DROVER_COMMIT_REF: "refs/heads/main",
      DROVER_BRANCH: "main",
      DROVER_REPO_URL: repo,
      DROVER_TAG: "",
      DROVER_PR_NUMBER: "",
    });
    // the token travels in the checkout only
    expect(JSON.stringify({ ...web, checkout: null })).not.toContain(server.token);
  });

  test("on: decides: a branch, tag or target branch it leaves out starts nothing and says why", async () => {
    expect(await start(push("feature/x", c1, c2))).toEqual({
      outcome: "filtered",
      reason: "on.push.branches (main, release/*) does not match branch feature/x",
    });
    const next = (await h.coordinator.services.projects.get("web"))!.nextRunNumber;
    expect(created(await start(push("release/2", null, c2))).number).toBe(next);
    const tag = sourceOf("tag", "webhook:t", { sha: c1, tag: "nightly", ref: "refs/tags/nightly" });
    await server.git(REPO, "tag", "nightly", c1);
    await server.git(REPO, "push", "-q", "origin", "nightly");
    expect(await start(tag)).toEqual({ outcome: "filtered", reason: "on.push.tags (v*) does not match tag nightly" });
    const pr = sourceOf("pull_request", "webhook:t", { sha: c2, pr: { number: 9, sourceBranch: "x", targetBranch: "dev", fromFork: false } });
    expect(await start(pr)).toEqual({ outcome: "filtered", reason: "on.pull_request.branches (main) does not match target branch dev" });
  });

  test("a new branch or a tag has no known change: every task runs", async () => {
    await server.git(REPO, "tag", "v1.0", c2);
    await server.git(REPO, "push", "-q", "origin", "v1.0");
    const run = created(await start(sourceOf("tag", "webhook:t", { sha: c2, tag: "v1.0", ref: "refs/tags/v1.0" })));
    const held = await assignments(run.id, "docs", "web");
    expect(held.get("docs")!.checkout!.ref).toBe("refs/tags/v1.0");
    expect(held.get("docs")!.env.DROVER_TAG).toBe("v1.0");
  });

  test("a pull request builds its head from refs/pull/N/head; changed: compares with the merge base on the target", async () => {
    const topic = await server.commit(REPO, { "docs/guide.md": "new" }, { branch: "topic", message: "docs" });
    await server.git(REPO, "push", "-q", "origin", `${topic}:refs/pull/5/head`);
    await server.git(REPO, "checkout", "-q", "main");
    await server.commit(REPO, { "web/app.js": "3" }, { branch: "main", message: "main moves on" });
    const pr = sourceOf("pull_request", "webhook:t", {
      sha: topic,
      ref: "refs/pull/5/head",
      pr: { number: 5, sourceBranch: "topic", targetBranch: "main", fromFork: true },
    });
    const run = created(await start(pr));
    await waitFor("docs to run", async () => (await tasksOf(run.id)).docs![0] === "running");
    // main's later web change is not the PR's: only docs changed since the merge base
    expect((await tasksOf(run.id)).web).toEqual(["skipped", "no changed file matches changed: web/**"]);
    const docs = (await assignments(run.id, "docs")).get("docs")!;
    expect(docs.checkout).toMatchObject({ sha: topic, ref: "refs/pull/5/head" });
    expect(docs.env).toMatchObject({ DROVER_EVENT: "pull_request", DROVER_PR_NUMBER: "5", DROVER_PR_SOURCE_BRANCH: "topic", DROVER_PR_TARGET_BRANCH: "main" });
  });

  test("a commit without the file, an invalid file and a sha the repository lacks start nothing and say why", async () => {
    const bare = await server.commit(REPO, { ".drover.yml": null }, { branch: "release/bare" });
    expect(await start(push("release/bare", null, bare))).toEqual({ outcome: "no_pipeline", reason: `commit ${bare.slice(0, 12)} has no .drover.yml` });
    const broken = await server.commit(REPO, { ".drover.yml": "on: { push: true }\ntasks:\n  a: { steps: [ { rum: x } ] }\n" }, { branch: "release/broken" });
    // later commits of other tests go on from main, not from this broken branch
    await server.git(REPO, "checkout", "-q", "main");
    const invalid = await start(push("release/broken", null, broken));
    expect(invalid).toMatchObject({ outcome: "invalid_pipeline" });
    expect(invalid.outcome === "invalid_pipeline" && invalid.errors).toContain('.drover.yml:3:19: tasks.a.steps[0].rum: unknown key "rum" (did you mean "run"?)');
    const gone = await start(push("main", null, "f".repeat(40)));
    expect(gone.outcome).toBe("unreachable");
    expect(JSON.stringify(gone)).not.toContain(server.token);
  });

  test("runs started at once get consecutive numbers, each once", async () => {
    const before = (await h.coordinator.services.projects.get("web"))!.nextRunNumber;
    const runs = await Promise.all(Array.from({ length: 8 }, () => start(push("main", null, c2))));
    const numbers = runs.map((r) => created(r).number!).sort((a, b) => a - b);
    expect(numbers).toEqual(Array.from({ length: 8 }, (_, i) => before + i));
  });

  test("a restart of a project run is the next number of the same commit, changed:-skipped tasks skipped again", async () => {
    const first = created(await start(push("main", c1, c2)));
    await assignments(first.id, "web");
    expect((await h.api("POST", `/api/v1/runs/${first.id}/cancel`)).status).toBe(202);
    await h.waitPhase(first.id, ["cancelled"]);
    const again = await h.api<{ id: string; project: string; number: number; source: RunSource }>("POST", `/api/v1/runs/${first.id}/restart`, { from: "scratch" });
    expect(again.status).toBe(201);
    expect(again.body).toMatchObject({ project: "web", number: first.number! + 1, source: first.source! });
    expect((await tasksOf(again.body.id)).docs).toEqual(["skipped", "no changed file matches changed: docs/**"]);
    expect((await assignments(again.body.id, "web")).get("web")!.checkout).toMatchObject({ sha: c2, path: "src" });
  });
});
