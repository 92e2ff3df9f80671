import type { Forge } from "./credentials.ts";

/** The web origin of a clone URL: http(s) as given; ssh:// and scp-like `git@host:path` addresses as https. */
function webOrigin(repoUrl: string): string | null {
  const scp = /^[^@/]+@([^:/]+):(?!\/)/.exec(repoUrl);
  if (scp) return `https://${scp[1]}`;
  try {
    const url = new URL(repoUrl);
    if (url.protocol === "http:" || url.protocol === "https:") return `${url.protocol}//${url.host}`;
    if (url.protocol === "ssh:") return `https://${url.hostname}`;
  } catch {
    // a local path: no forge behind it
  }
  return null;
}

/**
 * The forge's REST API base when the project does not give one: github.com's is api.github.com,
 * GitHub Enterprise serves it under /api/v3, Gitea and Forgejo under /api/v1, GitLab under /api/v4.
 * Plain git has none, and neither has a repository given as a local path.
 */
export function defaultApiUrl(forge: Forge, repoUrl: string): string | null {
  const origin = forge === "git" ? null : webOrigin(repoUrl);
  if (!origin) return null;
  if (forge === "github") return origin === "https://github.com" ? "https://api.github.com" : `${origin}/api/v3`;
  return `${origin}${forge === "gitlab" ? "/api/v4" : "/api/v1"}`;
}
