import type { z } from "zod";
import type { Forge } from "./detect.ts";
import { createPayload, pullRequestPayload, pushPayload } from "./github-payloads.ts";
import { baseSource, type HookIntent, parsePayload as parse, pushIntent, realSha } from "./outcome.ts";

/** Pull request actions that put a new head up for building; GitHub says `synchronize`, Gitea `synchronized`. */
const PR_BUILDS = new Set(["opened", "reopened", "synchronize", "synchronized"]);

/** GitHub, Gitea and Forgejo deliveries as the run they ask for. */
export function githubIntent(forge: Forge, event: string, payload: unknown, trigger: string): HookIntent {
  switch (event) {
    case "push":
      return push(parse(pushPayload, payload, event), trigger);
    case "create":
      return create(forge, parse(createPayload, payload, event), trigger);
    case "pull_request":
      return pullRequest(parse(pullRequestPayload, payload, event), trigger);
    default:
      return { kind: "ignore", reason: `${event} events start nothing` };
  }
}

function push(p: z.infer<typeof pushPayload>, trigger: string): HookIntent {
  const head = p.head_commit ?? p.commits?.find((c) => c.id === p.after) ?? null;
  const author = head?.author?.name ?? head?.author?.username ?? p.pusher?.name ?? p.pusher?.username ?? null;
  const sha = p.deleted ? null : p.after;
  return pushIntent(
    { ref: p.ref, before: p.before, sha, repoUrl: p.repository.clone_url, message: head?.message ?? null, author },
    trigger,
  );
}

function create(forge: Forge, p: z.infer<typeof createPayload>, trigger: string): HookIntent {
  if (p.ref_type !== "tag") return { kind: "ignore", reason: `a created ${p.ref_type} is built by its push event` };
  const tag = p.ref.replace(/^refs\/tags\//, "");
  return {
    kind: "build",
    source: {
      ...baseSource(trigger, p.repository.clone_url),
      event: "tag",
      // GitHub's create event names no commit: the tag is resolved in the project's mirror
      sha: forge === "github" ? null : realSha(p.sha),
      ref: `refs/tags/${tag}`,
      tag,
      author: p.sender?.login ?? null,
    },
  };
}

function pullRequest(p: z.infer<typeof pullRequestPayload>, trigger: string): HookIntent {
  if (!PR_BUILDS.has(p.action)) return { kind: "ignore", reason: `pull request ${p.action}: nothing to build` };
  const { head, base } = p.pull_request;
  return {
    kind: "build",
    source: {
      ...baseSource(trigger, base.repo.clone_url),
      event: "pull_request",
      sha: head.sha,
      ref: `refs/pull/${p.number}/head`,
      branch: head.ref,
      pr: { number: p.number, sourceBranch: head.ref, targetBranch: base.ref, fromFork: head.repo?.id !== base.repo.id },
      message: p.pull_request.title,
      author: p.pull_request.user?.login ?? null,
    },
  };
}
