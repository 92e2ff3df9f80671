import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import examples from "@octokit/webhooks-examples";
import Ajv2020 from "ajv/dist/2020";
import { ADMIN_TOKEN, type Cluster, startCluster } from "../helpers/cluster.ts";
import { type ForgeApi, startForgeApi } from "../helpers/forge-api.ts";
import { deliver, forgeHeaders, giteaPush, gitlabMergeRequest } from "../helpers/forge-deliveries.ts";
import { type GitServer, startGitServer } from "../helpers/git-server.ts";
import { waitFor } from "../helpers/processes.ts";

let cluster: Cluster;
let git: GitServer;
let forge: ForgeApi;
let repo: string;
let secret: string;
let hookUrl: string;
const ZERO = "0".repeat(40);

const PIPELINE = `on:
  push: { branches: [main], tags: ['v*'] }
  pull_request: { branches: [main] }
tasks:
  show:
    steps:
      - run: |
          echo "event=$DROVER_EVENT sha=$DROVER_COMMIT_SHA head=$(git rev-parse HEAD)"
          echo "secret=\${FORK_SECRET:-none} plain=\${PLAIN:-none}"
`;

type Delivery = { delivery_id: string; outcome: string; reason: string | null; run: { id: string; number: number } | null; status: number; forge: string; event: string };
type Run = { id: string; number: number; phase: string; result: string; source: Record<string, unknown>; tasks: { name: string; status: string }[] };

/** GitHub's own push example, pointed at this test's repository and commit. */
function githubPush(ref: string, before: string, after: string, message: string) {
  const pushes = examples.find((e) => e.name === "push")!.examples as unknown as { ref: string }[];
  const example = pushes.find((p) => p.ref === "refs/heads/master")!;
  const payload = structuredClone(example) as unknown as { repository: Record<string, unknown>; head_commit: Record<string, unknown> };
  payload.repository.clone_url = repo;
  payload.head_commit = { ...payload.head_commit, id: after, message };
  return { ...payload, ref, before, after, commits: [payload.head_commit] };
}

type PrEnd = { ref: string; sha: string; repo: { id: number; clone_url: string } };

/** GitHub's own pull_request example, its head at `sha`, from another repository when `fork`. */
function githubPullRequest(action: string, number: number, sha: string, fork: boolean) {
  const prs = examples.find((e) => e.name === "pull_request")!.examples as unknown as { action: string }[];
  const example = prs.find((p) => p.action === "opened")!;
  const payload = structuredClone(example) as unknown as { action: string; number: number; pull_request: { number: number; head: PrEnd; base: PrEnd }; repository: Record<string, unknown> };
  payload.action = action;
  payload.number = number;
  payload.pull_request.number = number;
  payload.pull_request.base.ref = "main";
  payload.pull_request.base.repo.clone_url = repo;
  payload.pull_request.head = { ...payload.pull_request.head, sha, ref: "feature", repo: { ...payload.pull_request.head.repo, id: fork ? 999 : payload.pull_request.base.repo.id } };
  return payload;
}

/** Commits back on main after a test committed on another branch (the work clone's next commit goes on from there). */
async function backToMain(): Promise<void> {
  await git.git("acme/app.git", "checkout", "-q", "main");
}

type FirstPush = { first: string; second: string; delivery: Delivery; res: Response };
let firstPush: Promise<FirstPush> | undefined;
/**
 * The project's first push (delivery gh-1, run #1), made once by whichever test needs it first, so that
 * the tests hold in any order: each one that needs the pipeline on main or run #1 awaits this.
 */
function pushed(): Promise<FirstPush> {
  firstPush ??= (async () => {
    const first = await git.commit("acme/app.git", { ".drover.yml": PIPELINE, "README.md": "one" }, { message: "first" });
    const second = await git.commit("acme/app.git", { "README.md": "two" }, { message: "second" });
    const res = await deliver(hookUrl, "github", "push", secret, githubPush("refs/heads/main", first, second, "second"), "gh-1");
    const delivery = (await res.clone().json()) as Delivery;
    return { first, second, delivery, res };
  })();
  return firstPush;
}

let mixed: Promise<void> | undefined;
/** One delivery of each outcome but pending (ids mix-*), for the tests that read the deliveries back. */
function mixedDeliveries(): Promise<void> {
  mixed ??= (async () => {
    const { first, second } = await pushed();
    const push = githubPush("refs/heads/main", first, second, "second");
    await deliver(hookUrl, "github", "push", secret, push, "gh-1"); // duplicate
    const body = JSON.stringify(push);
    await fetch(hookUrl, { method: "POST", headers: forgeHeaders("github", "push", "not-the-secret", body, "mix-refused"), body });
    await deliver(hookUrl, "github", "push", secret, { ref: "refs/heads/main", after: second }, "mix-invalid");
    const ping = examples.find((e) => e.name === "ping")!.examples[0];
    await deliver(hookUrl, "github", "ping", secret, ping, "mix-ignored");
    const mixedHead = await git.commit("acme/app.git", { "m.txt": "x" }, { branch: "mixed", message: "mixed work" });
    await backToMain();
    await deliver(hookUrl, "github", "push", secret, githubPush("refs/heads/mixed", ZERO, mixedHead, "mixed work"), "mix-filtered");
    const mainHead = await git.commit("acme/app.git", { "README.md": "mixed" }, { message: "mixed on main" });
    const created = await deliver(hookUrl, "github", "push", secret, githubPush("refs/heads/main", second, mainHead, "mixed on main"), "mix-created");
    await cluster.waitRun(((await created.json()) as Delivery).run!.id, 60_000);
  })();
  return mixed;
}

async function deliveries(project = "app"): Promise<Delivery[]> {
  return (await cluster.api<{ deliveries: Delivery[] }>("GET", `/api/v1/projects/${project}/deliveries`)).body.deliveries;
}

const runOf = async (id: string) => (await cluster.api<Run>("GET", `/api/v1/runs/${id}`)).body;

beforeAll(async () => {
  git = startGitServer();
  forge = startForgeApi();
  repo = git.createRepo("acme/app.git", { private: true });
  cluster = await startCluster();
  await cluster.startAgent("w1");
  const created = await cluster.api<{ hook_secret: string; hook_url: string }>("POST", "/api/v1/projects", {
    name: "app",
    repo: { url: repo, forge: "github", credentials: { token: git.token } },
    api_url: forge.githubUrl,
    fork_approval: true,
  });
  expect(created.status).toBe(201);
  secret = created.body.hook_secret;
  hookUrl = created.body.hook_url;
}, 60_000);
afterAll(async () => {
  await cluster?.stop();
  await git?.stop();
  await forge?.stop();
});

describe("the webhook receiver", () => {
  test("a signed GitHub push builds its commit; the forge gets queued, running and the result, as GitHub's API describes", async () => {
    const { second, res, delivery } = await pushed();
    expect(res.status).toBe(201);
    expect(delivery).toMatchObject({ delivery_id: "gh-1", forge: "github", event: "push", outcome: "created", run: { number: 1 } });
    const run = await cluster.waitRun(delivery.run!.id, 60_000);
    expect(run.result).toBe("success");
    expect(await cluster.log(run.id, "show", 0)).toContain(`event=push sha=${second}`);
    const statuses = await waitFor(
      "the success status",
      () => {
        // other tests build this commit too (a tag, a redelivery): only run #1's statuses
        const sent = forge.requests.filter((r) => r.path.endsWith(`/statuses/${second}`) && r.body.target_url === `${cluster.coordinator.url}/runs/${run.id}`);
        return sent.at(-1)?.body.state === "success" ? sent : undefined;
      },
      20_000,
    );
    expect(forge.mismatches).toEqual([]);
    expect(statuses.map((r) => r.path)).toContain(`/github/repos/acme/app/statuses/${second}`);
    expect(statuses.map((r) => r.body.state)).toEqual(["pending", "pending", "success"]);
    expect(statuses.at(-1)).toMatchObject({
      headers: { authorization: `token ${git.token}` },
      body: { context: "drover/app", target_url: `${cluster.coordinator.url}/runs/${run.id}`, description: "Run #1 succeeded" },
    });
  }, 90_000);

  test("the same delivery again starts nothing and is recorded as a duplicate", async () => {
    const { first, second } = await pushed();
    const res = await deliver(hookUrl, "github", "push", secret, githubPush("refs/heads/main", first, second, "second"), "gh-1");
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ outcome: "duplicate", run: null });
    expect((await deliveries())[0]).toMatchObject({ delivery_id: "gh-1", outcome: "duplicate" });
  });

  test("a tag: GitHub's create event builds it at the tag's commit, and the tag's push event does not build it again", async () => {
    const { second } = await pushed();
    await git.git("acme/app.git", "tag", "v1.0", second);
    await git.git("acme/app.git", "push", "-q", "origin", "v1.0");
    const example = examples.find((e) => e.name === "create")!.examples[0] as unknown as { ref: string; repository: Record<string, unknown> };
    const create = { ...structuredClone(example), ref: "v1.0" };
    create.repository.clone_url = repo;
    const created = await deliver(hookUrl, "github", "create", secret, create, "tag-1");
    expect(created.status).toBe(201);
    const delivery = (await created.json()) as Delivery;
    expect((await runOf(delivery.run!.id)).source).toMatchObject({ event: "tag", tag: "v1.0", ref: "refs/tags/v1.0", sha: second, message: "second" });
    const twin = await deliver(hookUrl, "github", "push", secret, githubPush("refs/tags/v1.0", ZERO, second, "second"), "tag-2");
    expect(await twin.json()).toMatchObject({ outcome: "duplicate", reason: `refs/tags/v1.0 was built by delivery tag-1 (run #${delivery.run!.number})` });
    await cluster.waitRun(delivery.run!.id, 60_000);
  }, 90_000);

  test("a push `on:` leaves out, a ping and a closed pull request answer 2xx, start nothing, and say why", async () => {
    await pushed();
    const feature = await git.commit("acme/app.git", { "f.txt": "x" }, { branch: "feature", message: "feature work" });
    await backToMain();
    const filtered = await deliver(hookUrl, "github", "push", secret, githubPush("refs/heads/feature", ZERO, feature, "feature work"), "gh-2");
    expect(filtered.status).toBe(200);
    expect(await filtered.json()).toMatchObject({ outcome: "filtered", reason: "on.push.branches (main) does not match branch feature" });
    const ping = examples.find((e) => e.name === "ping")!.examples[0];
    expect(await (await deliver(hookUrl, "github", "ping", secret, ping, "gh-3")).json()).toMatchObject({ outcome: "ignored", reason: "ping" });
    const closed = await deliver(hookUrl, "github", "pull_request", secret, githubPullRequest("closed", 4, feature, false), "gh-4");
    expect(await closed.json()).toMatchObject({ outcome: "ignored", reason: "pull request closed: nothing to build" });
  });

  test("bad deliveries: unsigned or wrongly signed 401, unknown shape 400, too large 413, each recorded with its reason", async () => {
    const { first, second } = await pushed();
    const body = JSON.stringify(githubPush("refs/heads/main", first, second, "second"));
    const wrong = await fetch(hookUrl, { method: "POST", headers: forgeHeaders("github", "push", "not-the-secret", body, "bad-1"), body });
    expect(wrong.status).toBe(401);
    const { "X-Hub-Signature-256": _dropped, ...unsigned } = forgeHeaders("github", "push", secret, body, "bad-2");
    expect((await fetch(hookUrl, { method: "POST", headers: unsigned, body })).status).toBe(401);
    const shapeless = await deliver(hookUrl, "github", "push", secret, { ref: "refs/heads/main", after: second }, "bad-3");
    expect(shapeless.status).toBe(400);
    const shapeError = ((await shapeless.json()) as { error: { message: string } }).error.message;
    expect(shapeError).toBe("not a push payload: repository: Invalid input: expected object, received undefined");
    const huge = JSON.stringify({ pad: "x".repeat(5 * 1024 * 1024) });
    const tooLarge = await fetch(hookUrl, { method: "POST", headers: forgeHeaders("github", "push", secret, huge, "bad-4"), body: huge });
    expect(tooLarge.status).toBe(413);
    expect(await tooLarge.text()).toContain("5 MiB");
    const notForge = await fetch(hookUrl, { method: "POST", headers: { "content-type": "application/json" }, body: "{}" });
    expect(notForge.status).toBe(400);
    const recorded = await deliveries();
    expect(recorded.find((d) => d.delivery_id === "bad-1")).toMatchObject({ outcome: "refused", status: 401 });
    expect(recorded.find((d) => d.delivery_id === "bad-2")).toMatchObject({ outcome: "refused", status: 401 });
    expect(recorded.find((d) => d.delivery_id === "bad-3")).toMatchObject({ outcome: "invalid", reason: shapeError, status: 400 });
    expect(recorded.find((d) => d.delivery_id === "bad-4")).toMatchObject({ outcome: "refused", status: 413 });
    expect(recorded.find((d) => d.forge === null)).toMatchObject({ outcome: "invalid", status: 400 });
    // a refused delivery holds no claim on its id: the real one of that id still builds
    const real = await deliver(hookUrl, "github", "push", secret, JSON.parse(body), "bad-1");
    expect(await real.json()).toMatchObject({ delivery_id: "bad-1", outcome: "created" });
  });

  test("Gitea and Forgejo pushes and GitLab merge requests build too, signed their own ways", async () => {
    const { second } = await pushed();
    const third = await git.commit("acme/app.git", { "README.md": "three" }, { message: "third" });
    const gitea = giteaPush("refs/heads/main", second, third, "third");
    gitea.repository.clone_url = repo;
    const viaGitea = await deliver(hookUrl, "gitea", "push", secret, gitea, "gt-1");
    expect(viaGitea.status).toBe(201);
    const giteaRun = ((await viaGitea.json()) as Delivery).run!;
    expect((await runOf(giteaRun.id)).source).toMatchObject({ event: "push", sha: third, author: "Gitea", trigger: "webhook:gt-1" });
    // Forgejo signs with its own headers besides Gitea's
    const fourth = await git.commit("acme/app.git", { "README.md": "four" }, { message: "fourth" });
    const forgejo = giteaPush("refs/heads/main", third, fourth, "fourth");
    forgejo.repository.clone_url = repo;
    const viaForgejo = (await (await deliver(hookUrl, "forgejo", "push", secret, forgejo, "fj-1")).json()) as Delivery;
    expect(viaForgejo).toMatchObject({ forge: "forgejo", outcome: "created" });
    expect((await cluster.waitRun(viaForgejo.run!.id, 60_000)).result).toBe("success");
    expect(await cluster.log(viaForgejo.run!.id, "show", 0)).toContain(`event=push sha=${fourth} head=${fourth}\n`);

    const mrHead = await git.commit("acme/app.git", { "mr.txt": "mr" }, { branch: "ms-viewport", message: "fixed readme" });
    await backToMain();
    await git.git("acme/app.git", "push", "-q", "origin", `${mrHead}:refs/merge-requests/5/head`);
    // as for a merge request from a fork, the head is on no branch of the repository: only its merge request's ref has it
    await git.git("acme/app.git", "push", "-q", "origin", "--delete", "ms-viewport");
    // a GitLab project on the same repository: its merge requests' heads are refs/merge-requests/N/head
    const lab = await cluster.api<{ hook_secret: string; hook_url: string }>("POST", "/api/v1/projects", {
      name: "lab",
      repo: { url: repo, forge: "gitlab", credentials: { token: git.token } },
      api_url: forge.gitlabUrl,
    });
    expect(lab.status).toBe(201);
    const mr = gitlabMergeRequest("open", 5, mrHead);
    mr.object_attributes.target_branch = "main";
    const viaGitlab = await deliver(lab.body.hook_url, "gitlab", "Merge Request Hook", lab.body.hook_secret, mr, "gl-1");
    const gitlabDelivery = (await viaGitlab.json()) as Delivery;
    expect(gitlabDelivery).toMatchObject({ forge: "gitlab", outcome: "created" });
    expect((await runOf(gitlabDelivery.run!.id)).source).toMatchObject({ event: "pull_request", sha: mrHead, pr: { number: 5, fromFork: false } });
    expect((await deliver(lab.body.hook_url, "gitlab", "Merge Request Hook", "wrong", mr, "gl-2")).status).toBe(401);
    await cluster.waitRun(giteaRun.id, 60_000);
    expect((await cluster.waitRun(gitlabDelivery.run!.id, 60_000)).result).toBe("success");
    const mrLog = await cluster.log(gitlabDelivery.run!.id, "show", 0);
    expect(mrLog).toContain(`checkout: ${repo} at ${mrHead} (refs/merge-requests/5/head) into the work dir\n`);
    expect(mrLog).toContain(`sha=${mrHead} head=${mrHead}\n`);
    // the same merge request delivered to the github project: the ref GitLab named is the one fetched
    const toApp = (await (await deliver(hookUrl, "gitlab", "Merge Request Hook", secret, mr, "gl-3")).json()) as Delivery;
    expect((await cluster.waitRun(toApp.run!.id, 60_000)).result).toBe("success");
    expect(await cluster.log(toApp.run!.id, "show", 0)).toContain(`checkout: ${repo} at ${mrHead} (refs/merge-requests/5/head) into the work dir\n`);
  }, 120_000);

  test("a push whose commit has no pipeline file, or an invalid one, starts nothing; the delivery says file:line:col", async () => {
    await pushed();
    const bare = await git.commit("acme/app.git", { ".drover.yml": null }, { branch: "main", message: "no pipeline here" });
    const none = await deliver(hookUrl, "github", "push", secret, githubPush("refs/heads/main", ZERO, bare, "no pipeline here"), "np-1");
    expect(none.status).toBe(200);
    expect(await none.json()).toMatchObject({ outcome: "no_pipeline", reason: `commit ${bare.slice(0, 12)} has no .drover.yml`, run: null });
    const broken = await git.commit("acme/app.git", { ".drover.yml": "on: { push: true }\ntasks:\n  a: { steps: [ { rum: x } ] }\n" }, { message: "typo" });
    const invalid = await deliver(hookUrl, "github", "push", secret, githubPush("refs/heads/main", bare, broken, "typo"), "np-2");
    expect(invalid.status).toBe(200);
    const reason = '.drover.yml:3:19: tasks.a.steps[0].rum: unknown key "rum" (did you mean "run"?)';
    const answer = (await invalid.json()) as Delivery;
    expect(answer).toMatchObject({ outcome: "invalid_pipeline", run: null });
    expect(answer.reason).toContain(reason);
    expect((await deliveries()).slice(0, 2).map((d) => [d.delivery_id, d.outcome, d.run])).toEqual([
      ["np-2", "invalid_pipeline", null],
      ["np-1", "no_pipeline", null],
    ]);
    const runs = (await cluster.api<{ runs: Run[] }>("GET", "/api/v1/runs?project=app&limit=100")).body.runs;
    expect(runs.filter((r) => [bare, broken].includes(String(r.source.sha)))).toEqual([]);
    // main builds again once its pipeline is back
    await git.commit("acme/app.git", { ".drover.yml": PIPELINE }, { message: "pipeline back" });
    // the pipeline is read at the pushed commit, not at the branch's head: the broken commit stays broken
    const again = await deliver(hookUrl, "github", "push", secret, githubPush("refs/heads/main", bare, broken, "typo"), "np-3");
    expect(await again.json()).toMatchObject({ outcome: "invalid_pipeline", run: null });
  }, 60_000);
});

test("deliveries answer as the OpenAPI document describes them, every field documented", async () => {
  const doc = (await cluster.api<{ components: { schemas: Record<string, object> } }>("GET", "/api/v1/openapi.json")).body;
  const text = JSON.stringify({ ...doc.components.schemas.DeliveryList, $defs: doc.components.schemas }).replaceAll("#/components/schemas/", "#/$defs/");
  const closed = JSON.parse(text, (_k, v) => (v?.properties && v.additionalProperties === undefined ? { ...v, additionalProperties: false } : v));
  const validate = new Ajv2020({ allErrors: true, strict: false }).compile(closed);
  await mixedDeliveries();
  const list = (await cluster.api<{ deliveries: Delivery[] }>("GET", "/api/v1/projects/app/deliveries?limit=500")).body;
  expect(new Set(list.deliveries.map((d) => d.outcome)).size).toBeGreaterThanOrEqual(6);
  expect(validate(list) || validate.errors).toBe(true);
  expect((await cluster.api("GET", "/api/v1/projects/app/deliveries?limit=501")).status).toBe(400);
});

test("the project's deliveries page lists them with their outcome, reason and run", async () => {
  await mixedDeliveries();
  const page = await fetch(`${cluster.coordinator.url}/projects/app/deliveries`, { headers: { cookie: `drover_token=${ADMIN_TOKEN}` } });
  expect(page.status).toBe(200);
  const html = await page.text();
  expect(html).toContain('data-delivery="mix-filtered"');
  expect(html).toContain("on.push.branches (main) does not match branch mixed");
  // one row of gh-1 (the first; the other is its duplicate) links run #1
  expect(html).toMatch(/data-delivery="gh-1">(?:(?!<\/tr>)[\s\S])*<a href="\/runs\/[0-9A-Z]+">#1<\/a>/);
  expect((await fetch(`${cluster.coordinator.url}/projects/nope/deliveries`, { headers: { cookie: `drover_token=${ADMIN_TOKEN}` } })).status).toBe(404);
});

test("/metrics counts deliveries by forge and outcome", async () => {
  const { first, second } = await pushed();
  const counts = async () => {
    const text = await (await fetch(`${cluster.coordinator.url}/metrics`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } })).text();
    const count = (labels: string) => Number(new RegExp(`^drover_webhook_deliveries_total\\{${labels}\\} (\\d+)$`, "m").exec(text)?.[1] ?? 0);
    return [count('forge="github",outcome="refused"'), count('forge="github",outcome="duplicate"'), count('forge="unknown",outcome="invalid"')];
  };
  const before = await counts();
  const body = JSON.stringify(githubPush("refs/heads/main", first, second, "second"));
  for (const id of ["metrics-1", "metrics-2"]) {
    await fetch(hookUrl, { method: "POST", headers: forgeHeaders("github", "push", "not-the-secret", body, id), body });
  }
  await deliver(hookUrl, "github", "push", secret, JSON.parse(body), "gh-1");
  await fetch(hookUrl, { method: "POST", headers: { "content-type": "application/json" }, body: "{}" });
  const after = await counts();
  expect(after.map((n, i) => n - before[i]!)).toEqual([2, 1, 1]);
});

describe("a slow repository", () => {
  test("a delivery still fetching after 8 s is answered 202 and recorded as pending", async () => {
    // a git server that takes the connection and never answers
    const silent = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
    try {
      const url = `http://127.0.0.1:${silent.port}/acme/slow.git`;
      const created = await cluster.api<{ hook_secret: string; hook_url: string }>("POST", "/api/v1/projects", { name: "slow", repo: { url, forge: "github" } });
      const payload = githubPush("refs/heads/main", ZERO, "c".repeat(40), "slow");
      payload.repository.clone_url = url;
      const started = Date.now();
      const res = await deliver(created.body.hook_url, "github", "push", created.body.hook_secret, payload, "slow-1");
      expect(res.status).toBe(202);
      expect(Date.now() - started).toBeLessThan(10_000);
      expect(await res.json()).toMatchObject({ delivery_id: "slow-1", outcome: "pending", status: 202 });
      expect((await deliveries("slow"))[0]).toMatchObject({ delivery_id: "slow-1", outcome: "pending" });
    } finally {
      silent.stop(true);
    }
  }, 30_000);
});

describe("forks", () => {
  test("a pull request from a fork waits for approval and gets the group's variables but none of its secrets", async () => {
    await cluster.api("PUT", "/api/v1/groups/app/secrets/FORK_SECRET", { value: "s3cr3t-value" });
    await cluster.api("PUT", "/api/v1/groups/app/variables/PLAIN", { value: "plain-value" });
    await pushed();
    const head = await git.commit("acme/app.git", { "fork.txt": "from a fork" }, { branch: "fork-feature", message: "fork change" });
    await backToMain();
    await git.git("acme/app.git", "push", "-q", "origin", `${head}:refs/pull/9/head`);
    // a fork's commit is on no branch of the repository: only refs/pull/9/head has it
    await git.git("acme/app.git", "push", "-q", "origin", "--delete", "fork-feature");
    const res = await deliver(hookUrl, "github", "pull_request", secret, githubPullRequest("opened", 9, head, true), "fork-1");
    const delivery = (await res.json()) as Delivery;
    expect(delivery.outcome).toBe("created");
    const waiting = await waitFor("the task to wait for approval", async () => {
      const run = await runOf(delivery.run!.id);
      return run.tasks[0]?.status === "waiting_approval" ? run : undefined;
    });
    expect(waiting.source).toMatchObject({ event: "pull_request", pr: { number: 9, fromFork: true } });
    expect((await cluster.api("POST", `/api/v1/runs/${delivery.run!.id}/tasks/show/approve`)).status).toBe(200);
    const run = await cluster.waitRun(delivery.run!.id, 60_000);
    expect(run.result).toBe("success");
    const log = await cluster.log(run.id, "show", 0);
    expect(log).toContain(`checkout: ${repo} at ${head} (refs/pull/9/head) into the work dir\n`);
    expect(log).toContain(`sha=${head} head=${head}\n`);
    expect(log).toContain("secret=none plain=plain-value");

    // the same pull request from the project's own repository gets the secret (and needs no approval)
    const own = await deliver(hookUrl, "github", "pull_request", secret, githubPullRequest("synchronize", 9, head, false), "own-1");
    const ownRun = await cluster.waitRun(((await own.json()) as Delivery).run!.id, 60_000);
    expect(await cluster.log(ownRun.id, "show", 0)).toContain("secret=[REDACTED] plain=plain-value");
  }, 120_000);
});
