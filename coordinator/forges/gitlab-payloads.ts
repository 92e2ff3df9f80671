import { z } from "zod";

/** The parts of GitLab's webhook payloads a run needs (its "Webhook events" documentation); the rest is ignored. */
const project = z.object({ id: z.number(), path_with_namespace: z.string(), git_http_url: z.string() });

const commit = z.object({
  id: z.string(),
  message: z.string(),
  author: z.object({ name: z.string().nullish() }).nullish(),
});

/** "Push Hook" and "Tag Push Hook" share one shape; `checkout_sha` is null when the ref was deleted. */
export const gitlabPushPayload = z.object({
  object_kind: z.enum(["push", "tag_push"]),
  ref: z.string(),
  before: z.string().nullish(),
  after: z.string(),
  checkout_sha: z.string().nullish(),
  user_name: z.string().nullish(),
  user_username: z.string().nullish(),
  project,
  commits: z.array(commit).nullish(),
});

export const gitlabMergeRequestPayload = z.object({
  object_kind: z.literal("merge_request"),
  user: z.object({ name: z.string().nullish(), username: z.string().nullish() }).nullish(),
  project,
  object_attributes: z.object({
    iid: z.number().int(),
    action: z.string().nullish(),
    title: z.string(),
    source_branch: z.string(),
    target_branch: z.string(),
    /** null when the source project was deleted */
    source_project_id: z.number().nullish(),
    target_project_id: z.number(),
    last_commit: commit,
    /** present on an `update` only when it brought new commits */
    oldrev: z.string().nullish(),
  }),
});
