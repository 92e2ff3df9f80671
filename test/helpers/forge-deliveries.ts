import { createHmac, randomUUID } from "node:crypto";
import type { Forge } from "../../coordinator/forges/detect.ts";

/** The headers a forge sends with `body`: its event and delivery id, signed (or tokened, GitLab) with `secret`. */
export function forgeHeaders(
  forge: Forge,
  event: string,
  secret: string,
  body: string,
  deliveryId: string = randomUUID(),
): Record<string, string> {
  const hex = createHmac("sha256", secret).update(body).digest("hex");
  const json = { "Content-Type": "application/json" };
  switch (forge) {
    case "github":
      return { ...json, "X-GitHub-Event": event, "X-GitHub-Delivery": deliveryId, "X-Hub-Signature-256": `sha256=${hex}` };
    case "gitea": // Gitea also sends GitHub's and Gogs' headers
      return {
        ...json,
        "X-Gitea-Event": event,
        "X-Gitea-Delivery": deliveryId,
        "X-Gitea-Signature": hex,
        "X-GitHub-Event": event,
        "X-Hub-Signature-256": `sha256=${hex}`,
      };
    case "forgejo": // and Forgejo Gitea's
      return {
        ...json,
        "X-Forgejo-Event": event,
        "X-Forgejo-Delivery": deliveryId,
        "X-Forgejo-Signature": hex,
        "X-Gitea-Event": event,
        "X-Gitea-Signature": hex,
      };
    case "gitlab":
      return {
        ...json,
        "X-Gitlab-Event": event,
        "X-Gitlab-Event-UUID": deliveryId,
        "Idempotency-Key": deliveryId,
        "X-Gitlab-Token": secret,
      };
  }
}

/** Posts a signed delivery to a project's receiver. */
export async function deliver(
  url: string,
  forge: Forge,
  event: string,
  secret: string,
  payload: unknown,
  deliveryId?: string,
): Promise<Response> {
  const body = JSON.stringify(payload);
  return fetch(url, { method: "POST", headers: forgeHeaders(forge, event, secret, body, deliveryId), body });
}

const user = { id: 1, login: "gitea", full_name: "Gitea", email: "someone@gitea.io", username: "gitea" };
const giteaRepo = (id: number, fullName: string) => ({
  id,
  owner: user,
  name: fullName.split("/")[1],
  full_name: fullName,
  private: false,
  fork: id !== 140,
  html_url: `http://localhost:3000/${fullName}`,
  clone_url: `http://localhost:3000/${fullName}.git`,
  ssh_url: `git@localhost:${fullName}.git`,
  default_branch: "main",
});

/** Gitea's push payload as its webhook documentation shows it (docs.gitea.com, "Webhooks"). */
export function giteaPush(ref: string, before: string, after: string, message = "Webhooks Yay!") {
  const commit = {
    id: after,
    message,
    url: `http://localhost:3000/gitea/webhooks/commit/${after}`,
    author: { name: "Gitea", email: "someone@gitea.io", username: "gitea" },
    committer: { name: "Gitea", email: "someone@gitea.io", username: "gitea" },
    timestamp: "2017-03-13T13:52:11-04:00",
  };
  return {
    ref,
    before,
    after,
    compare_url: `http://localhost:3000/gitea/webhooks/compare/${before}...${after}`,
    commits: [commit],
    head_commit: commit,
    repository: giteaRepo(140, "gitea/webhooks"),
    pusher: user,
    sender: user,
  };
}

/** Gitea's pull_request payload; `headRepoId` other than 140 makes it a fork's. */
export function giteaPullRequest(action: string, number: number, headSha: string, headRepoId = 140) {
  const base = giteaRepo(140, "gitea/webhooks");
  const head = headRepoId === 140 ? base : giteaRepo(headRepoId, "someone/webhooks");
  return {
    action,
    number,
    pull_request: {
      id: 1000 + number,
      number,
      user,
      title: "Add the feature",
      body: "",
      state: "open",
      head: { label: "feature", ref: "feature", sha: headSha, repo_id: head.id, repo: head },
      base: { label: "main", ref: "main", sha: "28e1879d029cb852e4844d9c718537df08844e03", repo_id: base.id, repo: base },
      merge_base: "28e1879d029cb852e4844d9c718537df08844e03",
    },
    repository: base,
    sender: user,
  };
}

/** Gitea's create event for a tag: unlike GitHub's it names the commit. */
export function giteaCreateTag(tag: string, sha: string) {
  return { sha, ref: tag, ref_type: "tag", repository: giteaRepo(140, "gitea/webhooks"), sender: user };
}

const gitlabProject = (id: number, path: string) => ({
  id,
  name: path.split("/")[1],
  web_url: `http://example.com/${path}`,
  git_ssh_url: `git@example.com:${path}.git`,
  git_http_url: `http://example.com/${path}.git`,
  namespace: path.split("/")[0],
  path_with_namespace: path,
  default_branch: "main",
});

/** GitLab's "Push Hook" or "Tag Push Hook" body as its "Webhook events" documentation shows it. */
export function gitlabPush(
  kind: "push" | "tag_push",
  ref: string,
  before: string,
  after: string,
  message = "Update Catalan translation to e38cb41.",
) {
  return {
    object_kind: kind,
    event_name: kind,
    before,
    after,
    ref,
    ref_protected: true,
    checkout_sha: /^0+$/.test(after) ? null : after,
    user_id: 4,
    user_name: "John Smith",
    user_username: "jsmith",
    user_email: "john@example.com",
    project_id: 15,
    project: gitlabProject(15, "mike/diaspora"),
    commits: [
      {
        id: after,
        message,
        title: message,
        timestamp: "2011-12-12T14:27:31+02:00",
        url: `http://example.com/mike/diaspora/commit/${after}`,
        author: { name: "Jordi Mallach", email: "jordi@softcatala.org" },
        added: ["CHANGELOG"],
        modified: ["app/controller/application.rb"],
        removed: [],
      },
    ],
    total_commits_count: 1,
    repository: {
      name: "Diaspora",
      url: "git@example.com:mike/diaspora.git",
      homepage: "http://example.com/mike/diaspora",
      git_http_url: "http://example.com/mike/diaspora.git",
    },
  };
}

/** GitLab's "Merge Request Hook" body; `sourceProjectId` other than 1 makes it a fork's. */
export function gitlabMergeRequest(
  action: string,
  iid: number,
  sha: string,
  options: { oldrev?: string; sourceProjectId?: number } = {},
) {
  const target = gitlabProject(1, "gitlabhq/gitlab-test");
  const sourceId = options.sourceProjectId ?? 1;
  return {
    object_kind: "merge_request",
    event_type: "merge_request",
    user: { id: 1, name: "Administrator", username: "root", email: "admin@example.com" },
    project: target,
    object_attributes: {
      id: 99,
      iid,
      title: "MS-Viewport",
      state: action === "close" ? "closed" : "opened",
      action,
      source_branch: "ms-viewport",
      target_branch: "master",
      source_project_id: sourceId,
      target_project_id: 1,
      source: sourceId === 1 ? target : gitlabProject(sourceId, "awesome_space/awesome_project"),
      target,
      last_commit: {
        id: sha,
        message: "fixed readme",
        title: "fixed readme",
        timestamp: "2012-01-03T23:36:29+02:00",
        url: `http://example.com/awesome_space/awesome_project/commits/${sha}`,
        author: { name: "GitLab dev user", email: "gitlabdev@dv6700.(none)" },
      },
      ...(options.oldrev ? { oldrev: options.oldrev } : {}),
    },
  };
}
