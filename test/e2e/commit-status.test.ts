import { afterAll, beforeAll, expect, test } from "bun:test";
import { ADMIN_TOKEN, type Cluster, startCluster } from "../helpers/cluster.ts";
import { type ForgeApi, startForgeApi } from "../helpers/forge-api.ts";
import { deliver, giteaPush, gitlabPush } from "../helpers/forge-deliveries.ts";
import { type GitServer, startGitServer } from "../helpers/git-server.ts";
import { killGroup, waitFor } from "../helpers/processes.ts";

let cluster: Cluster;
let git: GitServer;
let forge: ForgeApi;

beforeAll(async () => {
  git = startGitServer();
  forge = startForgeApi();
  cluster = await startCluster();
  await cluster.startAgent("s1");
}, 60_000);
afterAll(async () => {
  await cluster?.stop();
  await git?.stop();
  await forge?.stop();
});

/** A project on its own repository with one commit; answers its hook URL and secret, and the commit. */
async function project(name: string, forgeName: "gitea" | "gitlab", apiUrl: string, command = "echo built") {
  const repo = git.createRepo(`acme/${name}.git`, { private: true });
  const sha = await git.commit(`acme/${name}.git`, { ".drover.yml": `tasks:\n  t:\n    steps: [ { run: ${command} } ]\n` });
  const created = await cluster.api<{ hook_url: string; hook_secret: string }>("POST", "/api/v1/projects", {
    name,
    repo: { url: repo, forge: forgeName, credentials: git.token },
    api_url: apiUrl,
  });
  expect(created.status).toBe(201);
  return { ...created.body, repo, sha };
}

/** The run's events from its event stream, read until a `kind` event that `wanted` takes appears. */
async function eventOf(runId: string, kind: string, timeoutMs: number, wanted = (_data: Record<string, unknown>) => true): Promise<Record<string, unknown>> {
  const abort = AbortSignal.timeout(timeoutMs);
  const res = await fetch(`${cluster.coordinator.url}/api/v1/runs/${runId}/events?after=0`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` }, signal: abort });
  const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) throw new Error(`the event stream ended without a ${kind} event:\n${text}`);
      text += value;
      for (const match of text.matchAll(new RegExp(`event: ${kind}\\ndata: (.*)\\n`, "g"))) {
        const data = JSON.parse(match[1]!) as Record<string, unknown>;
        if (wanted(data)) return data;
      }
    }
  } finally {
    await reader.cancel().catch(() => {});
  }
}

async function runPage(runId: string): Promise<string> {
  return (await fetch(`${cluster.coordinator.url}/runs/${runId}`, { headers: { cookie: `drover_token=${ADMIN_TOKEN}` } })).text();
}

/** A commit-status counter of /metrics; its change over one test is that test's own (the tests run in any order). */
async function statuses(forgeName: string, result: string): Promise<number> {
  const metrics = await (await fetch(`${cluster.coordinator.url}/metrics`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } })).text();
  const line = metrics.match(new RegExp(`^drover_commit_statuses_total\\{forge="${forgeName}",result="${result}"\\} (\\d+)$`, "m"));
  return Number(line?.[1] ?? 0);
}

test("GitLab statuses go to its own API: the project's url-encoded path, its state names, PRIVATE-TOKEN", async () => {
  const takenBefore = await statuses("gitlab", "taken");
  const p = await project("lab", "gitlab", forge.gitlabUrl);
  const push = gitlabPush("push", "refs/heads/main", "0".repeat(40), p.sha);
  push.project.git_http_url = p.repo;
  const res = await deliver(p.hook_url, "gitlab", "Push Hook", p.hook_secret, push);
  const run = await cluster.waitRun(((await res.json()) as { run: { id: string } }).run.id, 60_000);
  const sent = await waitFor("GitLab's success status", () => {
    const mine = forge.requests.filter((r) => r.path.includes("/projects/acme%2Flab/statuses/"));
    return mine.at(-1)?.body.state === "success" ? mine : undefined;
  });
  expect(forge.mismatches).toEqual([]);
  expect(sent.map((r) => r.body.state)).toEqual(["pending", "running", "success"]);
  expect(sent[0]).toMatchObject({ path: `/gitlab/projects/acme%2Flab/statuses/${p.sha}`, headers: { "private-token": git.token }, body: { name: "drover/lab" } });
  expect(sent[2]?.body.target_url).toBe(`${cluster.coordinator.url}/runs/${run.id}`);
  // counted once the coordinator has read the forge's answer, which may come after the forge logged the request
  await waitFor("three statuses counted as taken", async () => (await statuses("gitlab", "taken")) - takenBefore >= 3);
  expect((await statuses("gitlab", "taken")) - takenBefore).toBe(3);
}, 90_000);

test("a forge that refuses (403, then 500 however often it is asked) shows on the run: an event and a note on its page", async () => {
  forge.answer = 403;
  try {
    const refusedBefore = await statuses("gitea", "refused");
    const p = await project("refused", "gitea", forge.githubUrl);
    const push = giteaPush("refs/heads/main", "0".repeat(40), p.sha);
    push.repository.clone_url = p.repo;
    const res = await deliver(p.hook_url, "gitea", "push", p.hook_secret, push);
    const runId = ((await res.json()) as { run: { id: string } }).run.id;
    const refused = await eventOf(runId, "forge_status", 30_000);
    expect(refused).toMatchObject({ run: runId, context: "drover/refused" });
    expect(String(refused.error)).toContain("answered 403");
    expect((await cluster.waitRun(runId, 60_000)).result).toBe("success");
    // its success status is posted after the run ended: refused (403 is not retried) before the forge turns to 500
    const ofRun = (id: string) => forge.requests.filter((r) => r.body.state === "success" && r.body.target_url === `${cluster.coordinator.url}/runs/${id}`);
    await waitFor("the first run's success status", () => ofRun(runId).length > 0);

    // a 500 is retried with backoff before it is given up and shown
    forge.answer = 500;
    const again = await deliver(p.hook_url, "gitea", "push", p.hook_secret, { ...push, after: p.sha, ref: "refs/heads/main" }, "again");
    const secondRun = ((await again.json()) as { run: { id: string } }).run.id;
    await cluster.waitRun(secondRun, 60_000);
    const page = await waitFor(
      "the run page to note the refused status",
      async () => {
        const html = await runPage(secondRun);
        return html.includes("answered 500") ? html : undefined;
      },
      45_000,
    );
    expect(page).toContain('data-field="forge-status"');
    expect(page).toContain("did not take this run&#39;s success commit status (drover/refused)");
    // six tries of the last state alone; the earlier states gave way to it
    expect(ofRun(secondRun)).toHaveLength(6);
    expect(ofRun(runId)).toHaveLength(1);
    const refusedCount = (await statuses("gitea", "refused")) - refusedBefore;
    expect(refusedCount).toBeGreaterThanOrEqual(2);
    expect(refusedCount).toBeLessThanOrEqual(6);
  } finally {
    // the file's other tests run after this one in any order: a forge left refusing would fail them
    forge.answer = 201;
  }
}, 120_000);

test("a status the forge takes after refusing an earlier one lifts the run page's note; the event stream says so", async () => {
  forge.answer = 403;
  try {
    const p = await project("recovers", "gitea", forge.githubUrl, "sleep 3");
    const push = giteaPush("refs/heads/main", "0".repeat(40), p.sha);
    push.repository.clone_url = p.repo;
    const runId = ((await (await deliver(p.hook_url, "gitea", "push", p.hook_secret, push)).json()) as { run: { id: string } }).run.id;
    expect(String((await eventOf(runId, "forge_status", 30_000)).error)).toContain("answered 403");
    expect(await runPage(runId)).toContain('data-field="forge-status"');
    forge.answer = 201;
    expect((await cluster.waitRun(runId, 60_000)).result).toBe("success");
    const lifted = await eventOf(runId, "forge_status", 30_000, (data) => data.error === null);
    expect(lifted).toMatchObject({ state: "success", context: "drover/recovers", error: null });
    expect(await runPage(runId)).not.toContain('data-field="forge-status"');
  } finally {
    forge.answer = 201;
  }
}, 90_000);

test("a status still being retried when the coordinator stops is posted after its restart; one the forge took is not posted again", async () => {
  // the GitLab run above: its statuses were taken, so a restart leaves them be
  const taken = forge.requests.filter((r) => r.path.includes("/projects/acme%2Flab/statuses/")).length;
  forge.answer = 500;
  try {
    const p = await project("restarted", "gitea", forge.githubUrl);
    const push = giteaPush("refs/heads/main", "0".repeat(40), p.sha);
    push.repository.clone_url = p.repo;
    const runId = ((await (await deliver(p.hook_url, "gitea", "push", p.hook_secret, push)).json()) as { run: { id: string } }).run.id;
    expect((await cluster.waitRun(runId, 60_000)).result).toBe("success");
    const mine = () => forge.requests.filter((r) => r.path.endsWith(`/statuses/${p.sha}`) && r.body.state === "success");
    // the forge answers 500: the success status is being retried (six tries over about 15 s) when the coordinator stops
    await waitFor("the first try of the success status", () => mine().length >= 1);
    const port = new URL(cluster.coordinator.url).port;
    killGroup(cluster.coordinator.proc, "SIGTERM");
    await cluster.coordinator.proc.exited;
    const triesBefore = mine().length;
    forge.answer = 201;
    await cluster.startCoordinator({}, Number(port));
    const after = await waitFor("the success status posted again", () => (mine().length > triesBefore ? mine() : undefined), 20_000);
    expect(after.at(-1)!.body).toMatchObject({ context: "drover/restarted", target_url: `${cluster.coordinator.url}/runs/${runId}`, description: "Run #1 succeeded" });
    // taken now: another restart posts it no more
    await Bun.sleep(500);
    killGroup(cluster.coordinator.proc, "SIGTERM");
    await cluster.coordinator.proc.exited;
    const settled = mine().length;
    await cluster.startCoordinator({}, Number(port));
    await Bun.sleep(2000);
    expect(mine().length).toBe(settled);
    expect(forge.requests.filter((r) => r.path.includes("/projects/acme%2Flab/statuses/")).length).toBe(taken);
  } finally {
    forge.answer = 201;
  }
}, 90_000);
