import type { Forge } from "./detect.ts";
import type { RunStatus, StatusState } from "./status-state.ts";

/** Where a project's statuses go and with what. */
export interface StatusTarget {
  forge: Forge;
  /** the REST API base: https://api.github.com, https://ghe.example/api/v3, https://gitea.example/api/v1, …/api/v4 */
  apiUrl: string;
  /** the clone URL, whose path names the repository */
  repoUrl: string;
  token: string | null;
}

/** The forge answered with an error status; `transient` when trying again later may help. */
export class ForgeRefused extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }

  get transient(): boolean {
    return this.status >= 500 || this.status === 429 || this.status === 408;
  }
}

/** The repository's path on its forge, from an https, ssh or scp-like (`git@host:owner/repo.git`) clone URL. */
export function repositoryPath(repoUrl: string): string {
  const scp = /^[^@/]+@[^:/]+:(?!\/)(.*)$/.exec(repoUrl);
  const path = scp ? scp[1]! : new URL(repoUrl).pathname;
  return path.replace(/^\/+|\/+$/g, "").replace(/\.git$/, "");
}

/** A request of one forge's status API: GitHub and Gitea/Forgejo share one, GitLab has its own. */
interface StatusRequest {
  url: string;
  headers: Record<string, string>;
  body: Record<string, string>;
}

/** GitHub's states; Gitea and Forgejo take the same four. */
const GITHUB_STATE: Record<StatusState, string> = {
  pending: "pending",
  running: "pending",
  success: "success",
  failure: "failure",
  error: "error",
  canceled: "error",
};
const GITLAB_STATE: Record<StatusState, string> = {
  pending: "pending",
  running: "running",
  success: "success",
  failure: "failed",
  error: "failed",
  canceled: "canceled",
};

function githubRequest(target: StatusTarget, status: RunStatus): StatusRequest {
  // GitHub Enterprise and Gitea may sit under a sub-path: the owner and name are the path's last two parts
  const [owner, repo] = repositoryPath(target.repoUrl).split("/").slice(-2).map(encodeURIComponent);
  return {
    url: `${target.apiUrl.replace(/\/+$/, "")}/repos/${owner}/${repo}/statuses/${status.sha}`,
    headers: {
      accept: "application/vnd.github+json",
      "x-github-api-version": "2022-11-28",
      // GitHub reads a bare token under either scheme; Gitea and Forgejo document `token`
      ...(target.token ? { authorization: `token ${target.token}` } : {}),
    },
    body: {
      state: GITHUB_STATE[status.state],
      target_url: status.targetUrl,
      description: status.description,
      context: status.context,
    },
  };
}

function gitlabRequest(target: StatusTarget, status: RunStatus): StatusRequest {
  return {
    url: `${target.apiUrl.replace(/\/+$/, "")}/projects/${encodeURIComponent(repositoryPath(target.repoUrl))}/statuses/${status.sha}`,
    headers: target.token ? { "private-token": target.token } : {},
    body: {
      state: GITLAB_STATE[status.state],
      target_url: status.targetUrl,
      description: status.description,
      name: status.context,
    },
  };
}

/** Posts one status; throws ForgeRefused when the forge answers with an error. */
export async function postStatus(target: StatusTarget, status: RunStatus, signal?: AbortSignal): Promise<void> {
  const req = target.forge === "gitlab" ? gitlabRequest(target, status) : githubRequest(target, status);
  const res = await fetch(req.url, {
    method: "POST",
    headers: { ...req.headers, "content-type": "application/json", "user-agent": "drover" },
    body: JSON.stringify(req.body),
    signal: signal ?? AbortSignal.timeout(15_000),
  });
  if (res.ok) {
    await res.body?.cancel();
    return;
  }
  const text = (await res.text().catch(() => "")).slice(0, 200).trim();
  throw new ForgeRefused(res.status, `POST ${req.url} answered ${res.status}${text ? `: ${text}` : ""}`);
}
