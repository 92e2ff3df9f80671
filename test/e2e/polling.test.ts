import { afterAll, beforeAll, expect, test } from "bun:test";
import { type Cluster, startCluster } from "../helpers/cluster.ts";
import { type GitServer, startGitServer } from "../helpers/git-server.ts";
import { killGroup, waitFor } from "../helpers/processes.ts";
import { sampleCmdlines, tokenForms } from "../helpers/token-leaks.ts";

let cluster: Cluster;
let git: GitServer;

type Run = { id: string; number: number; source: { event: string; sha: string; branch: string; before: string | null; message: string; trigger: string } };

const PIPELINE = "on:\n  push: { branches: [main, 'rel/*'] }\ntasks:\n  t:\n    steps: [ { run: echo polled } ]\n";

beforeAll(async () => {
  git = startGitServer();
  cluster = await startCluster();
}, 60_000);
afterAll(async () => {
  await cluster?.stop();
  await git?.stop();
});

const runs = async () => (await cluster.api<{ runs: Run[] }>("GET", "/api/v1/runs?project=polled")).body.runs.toSorted((a, b) => a.number - b.number);
const runsAtLeast = (n: number) => waitFor(`${n} runs of the polled project`, async () => ((await runs()).length >= n ? runs() : undefined), 30_000);

test("a polled project builds each new head of a branch its on: takes, once, also across a coordinator restart", async () => {
  const repo = git.createRepo("acme/polled.git", { private: true });
  // git ls-remote and the mirror's fetches get the token through their environment, never their arguments
  const cmdlines = sampleCmdlines(tokenForms(git.token));
  const first = await git.commit("acme/polled.git", { ".drover.yml": PIPELINE }, { message: "pipeline" });
  await git.commit("acme/polled.git", { "x.txt": "x" }, { branch: "other", message: "other work" });
  const created = await cluster.api("POST", "/api/v1/projects", { name: "polled", repo: { url: repo, forge: "git", credentials: git.token }, poll: "10s" });
  expect(created.status).toBe(201);

  // the first poll builds the default branch only: the other heads it finds are taken as seen
  const [one] = await runsAtLeast(1);
  expect(one!.source).toMatchObject({ event: "push", sha: first, branch: "main", message: "pipeline", trigger: "poll" });

  const second = await git.commit("acme/polled.git", { "README.md": "two" }, { message: "second" });
  const release = await git.commit("acme/polled.git", { "r.txt": "r" }, { branch: "rel/1", message: "release" });
  await git.commit("acme/polled.git", { "x.txt": "y" }, { branch: "other", message: "more other work" });
  const three = await runsAtLeast(3);
  expect(three.map((r) => [r.source.branch, r.source.sha])).toContainEqual(["main", second]);
  expect(three.map((r) => [r.source.branch, r.source.sha])).toContainEqual(["rel/1", release]);
  expect(three.find((r) => r.source.branch === "main" && r.source.sha === second)?.source.before).toBe(first);

  // a restart polls at once; the heads it stored are not built again
  const port = new URL(cluster.coordinator.url).port;
  killGroup(cluster.coordinator.proc, "SIGTERM");
  await cluster.coordinator.proc.exited;
  await cluster.startCoordinator({}, Number(port));
  await Bun.sleep(3000);
  expect(await runs()).toHaveLength(3);
  const third = await git.commit("acme/polled.git", { "README.md": "three" }, { message: "third" });
  const four = await runsAtLeast(4);
  expect(four.at(-1)!.source).toMatchObject({ sha: third, branch: "main", before: second });
  await Bun.sleep(1000);
  expect(await runs()).toHaveLength(4);
  expect(cmdlines.stop()).toEqual([]);
  // nothing polled needs a webhook: there are no deliveries
  expect((await cluster.api<{ deliveries: unknown[] }>("GET", "/api/v1/projects/polled/deliveries")).body.deliveries).toEqual([]);
}, 120_000);
