import { afterAll, beforeAll, expect, test } from "bun:test";
import { postStatus, repositoryPath, type StatusTarget } from "../../coordinator/forges/status-clients.ts";
import { type RunStatus, runStatusState } from "../../coordinator/forges/status-state.ts";
import { type ForgeApi, startForgeApi } from "../helpers/forge-api.ts";

let api: ForgeApi;
beforeAll(() => {
  api = startForgeApi();
});
afterAll(() => api.stop());

const SHA = "6113728f27ae82c7b1a177c8d03f9e96e0adf246";
const status = (run: { phase: string; result: string; error?: string }): RunStatus => ({
  sha: SHA,
  ...runStatusState({ ...run, number: 12 }),
  targetUrl: "http://127.0.0.1:8080/runs/01J",
  context: "drover/demo",
});
const RUNS = [
  { phase: "queued", result: "unknown" },
  { phase: "running", result: "unknown" },
  { phase: "finished", result: "success" },
  { phase: "finished", result: "failed" },
  { phase: "cancelled", result: "stopped" },
  { phase: "setuperror", result: "error", error: "no agent has arch riscv64" },
];

test("GitHub and Gitea/Forgejo requests are what GitHub's OpenAPI description asks, for every state", async () => {
  const earlier = api.requests.length; // the server is shared with the file's other tests
  for (const forge of ["github", "gitea", "forgejo"] as const) {
    const target: StatusTarget = {
      forge,
      apiUrl: `${api.githubUrl}/`,
      repoUrl: "https://forge.example/org/hello-world.git",
      token: "t0k",
    };
    for (const run of RUNS) await postStatus(target, status(run));
  }
  expect(api.mismatches).toEqual([]);
  const sent = api.requests.slice(earlier).filter((r) => r.path.startsWith("/github/"));
  expect(sent).toHaveLength(18);
  expect(new Set(sent.map((r) => r.path))).toEqual(new Set([`/github/repos/org/hello-world/statuses/${SHA}`]));
  expect(sent.slice(0, 6).map((r) => r.body.state)).toEqual(["pending", "pending", "success", "failure", "error", "error"]);
  expect(sent[2]).toMatchObject({
    headers: { authorization: "token t0k" },
    body: { context: "drover/demo", target_url: "http://127.0.0.1:8080/runs/01J", description: "Run #12 succeeded" },
  });
  expect(sent[5]?.body.description).toBe("Run #12 could not run: no agent has arch riscv64");
});

test("GitLab gets its own path (the project's url-encoded path), states and PRIVATE-TOKEN", async () => {
  const target: StatusTarget = {
    forge: "gitlab",
    apiUrl: api.gitlabUrl,
    repoUrl: "git@gitlab.example:group/sub/app.git",
    token: "glpat",
  };
  for (const run of RUNS) await postStatus(target, status(run));
  expect(api.mismatches).toEqual([]);
  const sent = api.requests.filter((r) => r.path.startsWith("/gitlab/"));
  expect(sent.map((r) => r.body.state)).toEqual(["pending", "running", "success", "failed", "canceled", "failed"]);
  expect(new URL(`http://x${sent[0]!.path}`).pathname).toBe(`/gitlab/projects/group%2Fsub%2Fapp/statuses/${SHA}`);
  expect(sent[0]).toMatchObject({ headers: { "private-token": "glpat" }, body: { name: "drover/demo" } });
});

test("the validating server catches a request that differs from the operation", async () => {
  const before = api.mismatches.length;
  await fetch(`${api.githubUrl}/repos/org/hello/statuses/${SHA}`, {
    method: "POST",
    headers: { "content-type": "text/plain" },
    body: '{"state":"done"}',
  });
  expect(api.mismatches.slice(before).join("\n")).toMatch(
    /content type text\/plain[\s\S]*body: data\/state must be equal to one of the allowed values/,
  );
  api.mismatches.splice(before);
});

test("a refusal names the forge's answer and whether trying again may help", async () => {
  api.answer = 403;
  const target: StatusTarget = { forge: "github", apiUrl: api.githubUrl, repoUrl: "https://github.com/o/r", token: null };
  const refused = await postStatus(target, status(RUNS[0]!)).catch((e) => e);
  expect(refused.message).toBe(`POST ${api.githubUrl}/repos/o/r/statuses/${SHA} answered 403: {"message":"refused"}`);
  expect(refused.transient).toBe(false);
  api.answer = 502;
  expect((await postStatus(target, status(RUNS[0]!)).catch((e) => e)).transient).toBe(true);
  api.answer = 201;
});

test("repository paths from https, ssh and scp-like clone URLs", () => {
  expect(repositoryPath("https://github.com/o/r.git")).toBe("o/r");
  expect(repositoryPath("ssh://git@host:2222/o/r.git")).toBe("o/r");
  expect(repositoryPath("git@gitlab.example:g/s/r.git")).toBe("g/s/r");
  expect(repositoryPath("http://127.0.0.1:3000/sub/o/r/")).toBe("sub/o/r");
});

test("a run's queued status reaches the forge even when running replaced it at once; a replaced running one does not", async () => {
  const { CommitStatuses } = await import("../../coordinator/forges/status-notifier.ts");
  const target: StatusTarget = { forge: "github", apiUrl: api.githubUrl, repoUrl: "https://github.com/o/order", token: null };
  const statuses = new CommitStatuses({
    appendEvent: async () => {},
    posted: async () => {},
    lastStatusEvent: async () => undefined,
    runUrl: () => "http://127.0.0.1:8080/runs/01J",
    target: async () => ({ target, sha: SHA, context: "drover/demo" }),
  });
  const run = (id: string, phase: string, result = "unknown") => ({ id, phase, result, number: 12 }) as never;
  // as a run written already started: queued and running in the same turn
  statuses.onPhase(run("r1", "queued"));
  statuses.onPhase(run("r1", "running"));
  await statuses.idle();
  // a run that ends before its running status went out
  statuses.onPhase(run("r2", "queued"));
  statuses.onPhase(run("r2", "running"));
  statuses.onPhase(run("r2", "finished", "success"));
  await statuses.idle();
  const sent = api.requests.filter((r) => r.path.startsWith("/github/repos/o/order/"));
  expect(sent.map((r) => r.body.description)).toEqual(["Run #12 queued", "Run #12 running", "Run #12 queued", "Run #12 succeeded"]);
});
