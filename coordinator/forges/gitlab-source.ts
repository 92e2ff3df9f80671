import type { z } from "zod";
import { gitlabMergeRequestPayload, gitlabPushPayload } from "./gitlab-payloads.ts";
import { baseSource, type HookIntent, parsePayload, pushIntent, realSha } from "./outcome.ts";

/** GitLab deliveries as the run they ask for; the `X-Gitlab-Event` header names the event. */
export function gitlabIntent(event: string, payload: unknown, trigger: string): HookIntent {
  switch (event) {
    case "Push Hook":
    case "Tag Push Hook":
      return push(parsePayload(gitlabPushPayload, payload, event), trigger);
    case "Merge Request Hook":
      return mergeRequest(parsePayload(gitlabMergeRequestPayload, payload, event), trigger);
    default:
      return { kind: "ignore", reason: `${event} events start nothing` };
  }
}

function push(p: z.infer<typeof gitlabPushPayload>, trigger: string): HookIntent {
  // a deleted ref has the all-zero `after` and no checkout_sha
  const sha = realSha(p.after) && (p.checkout_sha ?? p.after);
  const head = p.commits?.find((c) => c.id === sha) ?? null;
  const author = head?.author?.name ?? p.user_name ?? p.user_username ?? null;
  return pushIntent(
    { ref: p.ref, before: p.before, sha, repoUrl: p.project.git_http_url, message: head?.message ?? null, author },
    trigger,
  );
}

/** Opening and reopening build; an update only when it brought commits (`oldrev`), not a title edit. */
function mergeRequest(p: z.infer<typeof gitlabMergeRequestPayload>, trigger: string): HookIntent {
  const mr = p.object_attributes;
  const builds = mr.action === "open" || mr.action === "reopen" || (mr.action === "update" && !!mr.oldrev);
  if (!builds) return { kind: "ignore", reason: `merge request ${mr.action ?? "event"}: nothing to build` };
  return {
    kind: "build",
    source: {
      ...baseSource(trigger, p.project.git_http_url),
      event: "pull_request",
      sha: mr.last_commit.id,
      ref: `refs/merge-requests/${mr.iid}/head`,
      branch: mr.source_branch,
      pr: {
        number: mr.iid,
        sourceBranch: mr.source_branch,
        targetBranch: mr.target_branch,
        fromFork: mr.source_project_id !== mr.target_project_id,
      },
      message: mr.last_commit.message,
      author: mr.last_commit.author?.name ?? p.user?.name ?? p.user?.username ?? null,
    },
  };
}
