import { describe, expect, test } from "bun:test";
import { defaultApiUrl } from "../../coordinator/projects/api-url.ts";
import { checkoutFor, sourceEnv } from "../../coordinator/projects/checkout.ts";
import { credentialSecrets, normalizeCredentials } from "../../coordinator/projects/credentials.ts";
import { triggerRefusal, unchangedTasks } from "../../coordinator/projects/filter.ts";
import { redact } from "../../coordinator/projects/git.ts";
import { fetchRef } from "../../coordinator/projects/refs.ts";
import { type Pipeline, parsePipeline } from "../../shared/pipeline/index.ts";
import type { RunSource } from "../../shared/source.ts";

const SHA = "a".repeat(40);

function pipeline(text: string): Pipeline {
  const parsed = parsePipeline(text);
  if (!parsed.ok) throw new Error(parsed.errors.join("\n"));
  return parsed.pipeline;
}

const errors = (text: string) => {
  const parsed = parsePipeline(text);
  return parsed.ok ? [] : parsed.errors;
};

function source(over: Partial<RunSource>): RunSource {
  return { event: "push", sha: SHA, ref: null, branch: null, tag: null, pr: null, before: null, message: null, author: null, repoUrl: null, trigger: "t", ...over };
}
const push = (branch: string) => source({ event: "push", branch, ref: `refs/heads/${branch}` });
const tag = (name: string) => source({ event: "tag", tag: name, ref: `refs/tags/${name}` });
const pr = (target: string) =>
  source({ event: "pull_request", pr: { number: 7, sourceBranch: "topic", targetBranch: target, fromFork: false } });
const manual = source({ event: "manual", branch: "main" });

const STEPS = "    steps: [ { run: 'true' } ]\n";

describe("on:", () => {
  test("without on:, pushes to any branch and manual runs start; tags and pull requests do not", () => {
    const p = pipeline(`tasks:\n  a:\n${STEPS}`);
    expect(triggerRefusal(p, push("main"))).toBeNull();
    expect(triggerRefusal(p, push("feature/deep/x"))).toBeNull();
    expect(triggerRefusal(p, manual)).toBeNull();
    expect(triggerRefusal(p, tag("v1"))).toBe("on.push.tags (none) does not match tag v1");
    expect(triggerRefusal(p, pr("main"))).toBe("on.pull_request.branches (none) does not match target branch main");
  });

  test("branch and tag globs: * stays within one part, ** crosses; a single pattern needs no list", () => {
    const p = pipeline(`on:\n  push: { branches: [main, 'release/*'], tags: 'v*' }\ntasks:\n  a:\n${STEPS}`);
    expect(triggerRefusal(p, push("main"))).toBeNull();
    expect(triggerRefusal(p, push("release/1.2"))).toBeNull();
    expect(triggerRefusal(p, push("release/1/2"))).toBe("on.push.branches (main, release/*) does not match branch release/1/2");
    expect(triggerRefusal(p, push("feature/x"))).toBe("on.push.branches (main, release/*) does not match branch feature/x");
    expect(triggerRefusal(p, tag("v1.0"))).toBeNull();
    expect(triggerRefusal(p, tag("nightly"))).toBe("on.push.tags (v*) does not match tag nightly");
    expect(triggerRefusal(p, pr("main"))).toContain("on.pull_request.branches (none)");
    expect(triggerRefusal(p, manual)).toBeNull();
  });

  test("push: true takes branches and tags; only branches or only tags take only those; pull_request by target", () => {
    expect(triggerRefusal(pipeline(`on: { push: true }\ntasks:\n  a:\n${STEPS}`), tag("x"))).toBeNull();
    expect(triggerRefusal(pipeline(`on: { push: {} }\ntasks:\n  a:\n${STEPS}`), push("any/thing"))).toBeNull();
    const tagsOnly = pipeline(`on: { push: { tags: ['v*'] } }\ntasks:\n  a:\n${STEPS}`);
    expect(triggerRefusal(tagsOnly, push("main"))).toBe("on.push.branches (none) does not match branch main");
    const prs = pipeline(`on: { pull_request: { branches: [main] }, manual: false }\ntasks:\n  a:\n${STEPS}`);
    expect(triggerRefusal(prs, pr("main"))).toBeNull();
    expect(triggerRefusal(prs, pr("dev"))).toBe("on.pull_request.branches (main) does not match target branch dev");
    expect(triggerRefusal(prs, push("main"))).toContain("on.push.branches (none)");
    expect(triggerRefusal(prs, manual)).toBe("on.manual is false");
    expect(triggerRefusal(pipeline(`on: { pull_request: true }\ntasks:\n  a:\n${STEPS}`), pr("x/y"))).toBeNull();
  });

  test("bad on: keys are refused with file:line:col", () => {
    expect(errors(`on:\n  pushh: {}\ntasks:\n  a:\n${STEPS}`)).toEqual(['.drover.yml:2:3: on.pushh: unknown key "pushh" (did you mean "push"?)']);
    expect(errors(`on:\n  push: { branches: [] }\ntasks:\n  a:\n${STEPS}`)).toEqual([
      ".drover.yml:2:21: on.push.branches: needs at least one pattern",
    ]);
    expect(errors(`on: { manual: 1 }\ntasks:\n  a:\n${STEPS}`)[0]).toMatch(/^\.drover\.yml:1:15: on\.manual: /);
  });
});

describe("changed:", () => {
  const p = pipeline(
    `tasks:\n  docs:\n    changed: ['docs/**', mkdocs.yml]\n${STEPS}  web:\n    changed: 'web/**'\n${STEPS}  all:\n${STEPS}`,
  );

  test("a task whose globs match no changed file is skipped, with why; tasks without changed: always run", () => {
    expect([...unchangedTasks(p, ["docs/a/b.md"]).keys()]).toEqual(["web"]);
    expect(unchangedTasks(p, ["mkdocs.yml", "web/.hidden/x"]).size).toBe(0);
    expect(unchangedTasks(p, ["README.md"])).toEqual(
      new Map([
        ["docs", "no changed file matches changed: docs/**, mkdocs.yml"],
        ["web", "no changed file matches changed: web/**"],
      ]),
    );
  });
});

describe("checkout:", () => {
  const access = { url: "https://git.example/app.git", forge: "github" as const, credentials: null };

  test("the pipeline's options are every task's default; a task's override them key by key, or turn it off", () => {
    const p = pipeline(
      `checkout: { depth: 1 }\ntasks:\n  a:\n${STEPS}  b:\n    checkout: { path: ./src/, submodules: true }\n${STEPS}  c:\n    checkout: false\n${STEPS}`,
    );
    const by = (name: string) => p.tasks.find((t) => t.name === name)!;
    expect(by("a").checkout).toEqual({ depth: 1, submodules: false, path: "" });
    expect(by("b").checkout).toEqual({ depth: 1, submodules: true, path: "src" });
    expect(by("c").checkout).toBe(false);
    expect(checkoutFor(push("main"), by("b"), access)).toEqual({
      url: access.url,
      sha: SHA,
      ref: "refs/heads/main",
      depth: 1,
      submodules: true,
      path: "src",
      credentials: null,
    });
    expect(checkoutFor(push("main"), by("c"), access)).toBeNull();
    const off = pipeline(`checkout: false\ntasks:\n  a:\n${STEPS}  b:\n    checkout: true\n${STEPS}`);
    expect(off.tasks.map((t) => t.checkout)).toEqual([false, { depth: null, submodules: false, path: "" }]);
  });

  test("without checkout: keys the spec has none, and a repository run checks out its full history", () => {
    const p = pipeline(`tasks:\n  a:\n${STEPS}`);
    expect(p.tasks[0]!.checkout).toBeUndefined();
    expect(checkoutFor(tag("v1"), p.tasks[0]!, access)).toMatchObject({ ref: "refs/tags/v1", depth: null, path: "" });
    expect(checkoutFor(tag("v1"), p.tasks[0]!, null)).toBeNull();
    expect(checkoutFor(source({ sha: null }), p.tasks[0]!, access)).toBeNull();
  });

  test("bad checkout: values are refused", () => {
    expect(errors(`checkout: { depth: 0 }\ntasks:\n  a:\n${STEPS}`)).toEqual([".drover.yml:1:20: checkout.depth: depth is at least 1"]);
    expect(errors(`tasks:\n  a:\n    checkout: { path: ../x }\n${STEPS}`)[0]).toMatch(/^\.drover\.yml:3:23: tasks\.a\.checkout\.path: must be a path inside/);
    expect(errors(`tasks:\n  a:\n    checkout: yes\n${STEPS}`)[0]).toMatch(/^\.drover\.yml:3:15: tasks\.a\.checkout: expected false, or/);
  });
});

describe("refs, credentials and the environment", () => {
  test("the fetch ref of each event, by forge", () => {
    expect(fetchRef(pr("main"), "github")).toBe("refs/pull/7/head");
    expect(fetchRef(pr("main"), "gitea")).toBe("refs/pull/7/head");
    expect(fetchRef(pr("main"), "gitlab")).toBe("refs/merge-requests/7/head");
    // the ref the delivering forge named wins: a GitLab merge request delivered to a project set up as github
    expect(fetchRef({ ...pr("main"), ref: "refs/merge-requests/7/head" }, "github")).toBe("refs/merge-requests/7/head");
    expect(fetchRef({ ...pr("main"), ref: "refs/pull/7/head" }, "gitlab")).toBe("refs/pull/7/head");
    expect(fetchRef(push("a/b"), "gitlab")).toBe("refs/heads/a/b");
    expect(fetchRef(tag("v2"), "git")).toBe("refs/tags/v2");
    expect(fetchRef(source({ event: "manual", ref: "refs/heads/x" }), "git")).toBe("refs/heads/x");
    expect(fetchRef(source({ event: "api" }), "git")).toBeNull();
  });

  test("credential shapes, each forge's token user name, and what redaction hides", () => {
    expect(normalizeCredentials("t0k", "github")).toEqual({ kind: "token", username: "x-access-token", token: "t0k" });
    expect(normalizeCredentials({ token: "t0k" }, "gitlab")).toEqual({ kind: "token", username: "oauth2", token: "t0k" });
    expect(normalizeCredentials({ username: "deploy", password: "pw" }, "gitlab")).toEqual({ kind: "token", username: "deploy", token: "pw" });
    expect(normalizeCredentials({ ssh_key: "KEY" }, "git")).toEqual({ kind: "ssh", privateKey: "KEY\n" });
    const secrets = credentialSecrets({ kind: "token", username: "u", token: "s3cr/t" });
    const basic = Buffer.from("u:s3cr/t").toString("base64");
    expect(redact(`fatal: https://u:s3cr%2Ft@host/ said s3cr/t and Basic ${basic}`, secrets)).toBe("fatal: https://***@host/ said *** and Basic ***");
  });

  test("the forge API base defaults from the repository URL", () => {
    expect(defaultApiUrl("github", "https://github.com/a/b.git")).toBe("https://api.github.com");
    expect(defaultApiUrl("github", "git@github.com:a/b.git")).toBe("https://api.github.com");
    expect(defaultApiUrl("github", "https://ghe.corp:8443/a/b.git")).toBe("https://ghe.corp:8443/api/v3");
    expect(defaultApiUrl("gitea", "http://127.0.0.1:3000/a/b.git")).toBe("http://127.0.0.1:3000/api/v1");
    expect(defaultApiUrl("forgejo", "ssh://git@codeberg.org/a/b.git")).toBe("https://codeberg.org/api/v1");
    expect(defaultApiUrl("gitlab", "https://gitlab.com/g/s/p.git")).toBe("https://gitlab.com/api/v4");
    expect(defaultApiUrl("git", "https://host/a.git")).toBeNull();
    expect(defaultApiUrl("github", "/srv/git/a.git")).toBeNull();
  });

  test("the source environment names every variable, empty when unknown", () => {
    const env = sourceEnv({ project: "app", number: 3, source: pr("main") });
    expect(env).toMatchObject({ DROVER_PROJECT: "app", DROVER_RUN_NUMBER: "3", DROVER_EVENT: "pull_request", DROVER_PR_NUMBER: "7", DROVER_PR_SOURCE_BRANCH: "topic", DROVER_PR_TARGET_BRANCH: "main", DROVER_BRANCH: "", DROVER_COMMIT_SHA: SHA });
    expect(Object.values(sourceEnv({ project: null, number: null, source: null })).every((v) => v === "")).toBe(true);
    expect(Object.keys(env)).toHaveLength(13);
  });
});
