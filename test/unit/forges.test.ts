import { describe, expect, test } from "bun:test";
import examples from "@octokit/webhooks-examples";
import { type DeliveryHeaders, detectForge, type Forge } from "../../coordinator/forges/detect.ts";
import { deliveryIntent } from "../../coordinator/forges/intent.ts";
import { InvalidPayload } from "../../coordinator/forges/outcome.ts";
import { credentialMatches } from "../../coordinator/forges/signature.ts";
import type { RunSource } from "../../shared/source.ts";
import {
  forgeHeaders,
  giteaCreateTag,
  giteaPullRequest,
  giteaPush,
  gitlabMergeRequest,
  gitlabPush,
} from "../helpers/forge-deliveries.ts";

const SECRET = "s3cret";
const ZERO = "0".repeat(40);
const A = "a".repeat(40);
const B = "b".repeat(40);

/** The GitHub examples of an event (and action), as GitHub sends them. */
function github(event: string, filter: (payload: Record<string, unknown>) => boolean = () => true): Record<string, unknown>[] {
  const found = examples.find((e) => e.name === event)?.examples.filter((p) => filter(p as Record<string, unknown>)) ?? [];
  expect(found.length).toBeGreaterThan(0);
  return found as Record<string, unknown>[];
}

/** Posts through detection, verification and normalisation as the receiver does. */
function receive(forge: Forge, event: string, payload: unknown, secret = SECRET) {
  const body = JSON.stringify(payload);
  const sent = forgeHeaders(forge, event, SECRET, body, "d-1");
  const lower = Object.fromEntries(Object.entries(sent).map(([k, v]) => [k.toLowerCase(), v]));
  const headers = detectForge((name) => lower[name]) as DeliveryHeaders;
  const bytes = new TextEncoder().encode(body);
  return {
    headers,
    verified: credentialMatches(headers.forge, secret, bytes, headers.credential),
    intent: () => deliveryIntent({ ...headers, deliveryId: "d-1" }, bytes),
  };
}

const built = (forge: Forge, event: string, payload: unknown): RunSource => {
  const intent = receive(forge, event, payload).intent();
  if (intent.kind !== "build") throw new Error(`expected a build, got: ${intent.reason}`);
  return intent.source;
};

describe("detection", () => {
  test.each([
    ["github", "push"],
    ["gitea", "push"],
    ["forgejo", "pull_request"],
    ["gitlab", "Push Hook"],
  ] as const)("%s is recognised by its own headers, even when it also sends another forge's", (forge, event) => {
    const { headers, verified } = receive(forge, event, {});
    expect(headers).toMatchObject({ forge, event, deliveryId: "d-1" });
    expect(verified).toBe(true);
  });

  test("no forge's headers: not recognised", () => {
    expect(detectForge((name) => ({ "content-type": "application/json", "x-hub-signature-256": "sha256=00" })[name])).toBeNull();
  });
});

describe("signatures", () => {
  test.each(["github", "gitea", "forgejo", "gitlab"] as const)("%s: another secret does not verify", (forge) => {
    expect(receive(forge, "push", { a: 1 }, "other").verified).toBe(false);
  });

  test("a body changed after signing does not verify; a missing or malformed signature neither", () => {
    const body = new TextEncoder().encode('{"a":2}');
    const signed = forgeHeaders("github", "push", SECRET, '{"a":1}')["X-Hub-Signature-256"] ?? "";
    expect(credentialMatches("github", SECRET, body, signed)).toBe(false);
    expect(credentialMatches("github", SECRET, body, null)).toBe(false);
    expect(credentialMatches("gitea", SECRET, body, "zz")).toBe(false);
    expect(credentialMatches("gitea", SECRET, body, `${signed.slice(7)}00`)).toBe(false);
  });
});

describe("GitHub's own example payloads", () => {
  test("a branch push builds its head commit with its message, author and clone URL", () => {
    for (const payload of github("push", (p) => String(p.ref).startsWith("refs/heads/") && !p.deleted)) {
      const source = built("github", "push", payload);
      const repo = payload.repository as { clone_url: string };
      const head = payload.head_commit as { message: string; author: { name: string } } | null;
      expect(source).toMatchObject({
        event: "push",
        sha: payload.after,
        ref: payload.ref,
        branch: String(payload.ref).slice(11),
        tag: null,
        pr: null,
      });
      expect(source).toMatchObject({ repoUrl: repo.clone_url, message: head?.message ?? null, trigger: "webhook:d-1" });
      expect(source.author).toBe(head?.author.name ?? null);
    }
  });

  test("a tag push builds the tag", () => {
    const [payload] = github("push", (p) => String(p.ref).startsWith("refs/tags/") && !p.deleted);
    expect(built("github", "push", payload)).toMatchObject({
      event: "tag",
      tag: "simple-tag",
      branch: null,
      ref: "refs/tags/simple-tag",
      sha: payload?.after,
      before: null,
    });
  });

  test("a created tag builds the tag, its commit left to the project's mirror; a created branch waits for its push", () => {
    const [tag] = github("create", (p) => p.ref_type === "tag");
    expect(built("github", "create", tag)).toMatchObject({
      event: "tag",
      tag: "simple-tag",
      ref: "refs/tags/simple-tag",
      sha: null,
      author: "Codertocat",
    });
    const branch = { ...tag, ref: "feature", ref_type: "branch" };
    expect(receive("github", "create", branch).intent()).toEqual({
      kind: "ignore",
      reason: "a created branch is built by its push event",
    });
  });

  test.each(["opened", "synchronize", "reopened"])("pull_request %s builds the head of the pull request", (action) => {
    for (const payload of github("pull_request", (p) => p.action === action)) {
      const pr = payload.pull_request as {
        number: number;
        title: string;
        head: { sha: string; ref: string };
        base: { ref: string; repo: { clone_url: string } };
      };
      expect(built("github", "pull_request", payload)).toMatchObject({
        event: "pull_request",
        sha: pr.head.sha,
        ref: `refs/pull/${pr.number}/head`,
        branch: pr.head.ref,
        pr: { number: pr.number, sourceBranch: pr.head.ref, targetBranch: pr.base.ref, fromFork: false },
        message: pr.title,
        repoUrl: pr.base.repo.clone_url,
      });
    }
  });

  test("a pull request whose head is another repository is from a fork", () => {
    const [payload] = github("pull_request", (p) => p.action === "opened");
    const pr = structuredClone(payload?.pull_request) as { head: { repo: { id: number } } };
    pr.head.repo.id += 1;
    expect(built("github", "pull_request", { ...payload, pull_request: pr }).pr?.fromFork).toBe(true);
  });

  test("closed, labeled and other pull request actions start nothing", () => {
    for (const payload of github("pull_request", (p) => !["opened", "synchronize", "reopened"].includes(String(p.action)))) {
      expect(receive("github", "pull_request", payload).intent()).toEqual({
        kind: "ignore",
        reason: `pull request ${payload.action}: nothing to build`,
      });
    }
  });

  test("ping and other events start nothing", () => {
    for (const payload of github("ping"))
      expect(receive("github", "ping", payload).intent()).toEqual({ kind: "ignore", reason: "ping" });
    expect(receive("github", "issues", {}).intent()).toEqual({ kind: "ignore", reason: "issues events start nothing" });
  });

  test("a deleted branch starts nothing", () => {
    const [payload] = github("push", (p) => String(p.ref).startsWith("refs/heads/"));
    expect(receive("github", "push", { ...payload, after: ZERO, deleted: true }).intent()).toMatchObject({ kind: "ignore" });
  });
});

describe("Gitea and Forgejo", () => {
  test("a push builds its commit", () => {
    for (const forge of ["gitea", "forgejo"] as const) {
      expect(built(forge, "push", giteaPush("refs/heads/develop", A, B))).toMatchObject({
        event: "push",
        sha: B,
        before: A,
        branch: "develop",
        message: "Webhooks Yay!",
        author: "Gitea",
        repoUrl: "http://localhost:3000/gitea/webhooks.git",
      });
    }
  });

  test("a new branch has no before; a tag push and a created tag build the tag at the named commit", () => {
    expect(built("gitea", "push", giteaPush("refs/heads/new", ZERO, B)).before).toBeNull();
    expect(built("gitea", "push", giteaPush("refs/tags/v1.0", ZERO, B))).toMatchObject({ event: "tag", tag: "v1.0", sha: B });
    expect(built("forgejo", "create", giteaCreateTag("v1.0", B))).toMatchObject({
      event: "tag",
      tag: "v1.0",
      ref: "refs/tags/v1.0",
      sha: B,
    });
  });

  test("pull requests: opened and synchronized build, from a fork when the head repository differs; closed does not", () => {
    expect(built("gitea", "pull_request", giteaPullRequest("opened", 7, A))).toMatchObject({
      event: "pull_request",
      sha: A,
      ref: "refs/pull/7/head",
      pr: { number: 7, sourceBranch: "feature", targetBranch: "main", fromFork: false },
    });
    expect(built("forgejo", "pull_request", giteaPullRequest("synchronized", 7, B, 141)).pr?.fromFork).toBe(true);
    expect(receive("gitea", "pull_request", giteaPullRequest("closed", 7, B)).intent()).toMatchObject({ kind: "ignore" });
  });
});

describe("GitLab", () => {
  test("a push builds its checkout_sha with the commit's message and author", () => {
    expect(built("gitlab", "Push Hook", gitlabPush("push", "refs/heads/master", A, B))).toMatchObject({
      event: "push",
      sha: B,
      before: A,
      branch: "master",
      message: "Update Catalan translation to e38cb41.",
      author: "Jordi Mallach",
      repoUrl: "http://example.com/mike/diaspora.git",
    });
  });

  test("a tag push builds the tag; a deleted branch starts nothing", () => {
    expect(built("gitlab", "Tag Push Hook", gitlabPush("tag_push", "refs/tags/v1.0.0", ZERO, B))).toMatchObject({
      event: "tag",
      tag: "v1.0.0",
      sha: B,
    });
    expect(receive("gitlab", "Push Hook", gitlabPush("push", "refs/heads/gone", A, ZERO)).intent()).toMatchObject({
      kind: "ignore",
    });
  });

  test("merge requests: open, reopen and an update with commits build; a title edit and a close do not", () => {
    expect(built("gitlab", "Merge Request Hook", gitlabMergeRequest("open", 3, A))).toMatchObject({
      event: "pull_request",
      sha: A,
      ref: "refs/merge-requests/3/head",
      pr: { number: 3, sourceBranch: "ms-viewport", targetBranch: "master", fromFork: false },
      message: "fixed readme",
      author: "GitLab dev user",
      repoUrl: "http://example.com/gitlabhq/gitlab-test.git",
    });
    expect(built("gitlab", "Merge Request Hook", gitlabMergeRequest("reopen", 3, A, { sourceProjectId: 9 })).pr?.fromFork).toBe(
      true,
    );
    expect(built("gitlab", "Merge Request Hook", gitlabMergeRequest("update", 3, B, { oldrev: A })).sha).toBe(B);
    expect(receive("gitlab", "Merge Request Hook", gitlabMergeRequest("update", 3, B)).intent()).toMatchObject({
      kind: "ignore",
    });
    expect(receive("gitlab", "Merge Request Hook", gitlabMergeRequest("close", 3, B)).intent()).toMatchObject({ kind: "ignore" });
  });
});

describe("payloads of an unknown shape", () => {
  test("say where they differ", () => {
    const { repository: _gone, ...payload } = giteaPush("refs/heads/main", A, B);
    expect(() => receive("gitea", "push", payload).intent()).toThrow(
      new InvalidPayload("not a push payload: repository: Invalid input: expected object, received undefined"),
    );
    expect(() => receive("gitlab", "Merge Request Hook", { object_kind: "merge_request", project: {} }).intent()).toThrow(
      /^not a Merge Request Hook payload: project.id: /,
    );
  });

  test("a body that is not JSON is refused as such", () => {
    const headers = { forge: "github", event: "push", deliveryId: "d", credential: null } as const;
    expect(() => deliveryIntent(headers, new TextEncoder().encode("payload=%7B%7D"))).toThrow(/not JSON/);
  });
});
