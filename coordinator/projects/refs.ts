import type { RunSource } from "../../shared/source.ts";
import type { Forge } from "./credentials.ts";

/**
 * The ref to fetch so that a source's commit is there: the pushed branch or tag, or a pull request's head
 * as the forge publishes it (GitLab's merge requests under refs/merge-requests/N/head, the others' under
 * refs/pull/N/head); for anything else, the source's own ref when it names one. A pull request's source
 * names the ref its delivering forge publishes, which wins over the project's forge setting.
 */
export function fetchRef(source: RunSource, forge: Forge): string | null {
  if (source.event === "pull_request" && source.pr && forge !== "git" && !source.ref?.startsWith("refs/")) {
    return forge === "gitlab" ? `refs/merge-requests/${source.pr.number}/head` : `refs/pull/${source.pr.number}/head`;
  }
  if (source.event === "tag" && source.tag) return `refs/tags/${source.tag}`;
  if (source.event === "push" && source.branch) return `refs/heads/${source.branch}`;
  return source.ref?.startsWith("refs/") ? source.ref : null;
}
