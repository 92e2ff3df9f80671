import { z } from "zod";

/**
 * The parts of GitHub's payloads a run needs. Gitea and Forgejo send the same shapes (they were modelled on
 * GitHub's), so one set of schemas serves the three. Unknown fields are ignored.
 */
const repository = z.object({ id: z.number(), full_name: z.string(), clone_url: z.string() });

const commit = z.object({
  id: z.string(),
  message: z.string(),
  author: z.object({ name: z.string().nullish(), username: z.string().nullish() }).nullish(),
});

export const pushPayload = z.object({
  ref: z.string(),
  before: z.string().nullish(),
  after: z.string(),
  deleted: z.boolean().nullish(),
  head_commit: commit.nullish(),
  commits: z.array(commit).nullish(),
  repository,
  pusher: z.object({ name: z.string().nullish(), username: z.string().nullish() }).nullish(),
});

export const createPayload = z.object({
  ref: z.string(),
  ref_type: z.string(),
  /** Gitea and Forgejo say which commit the tag points at; GitHub does not */
  sha: z.string().nullish(),
  repository,
  sender: z.object({ login: z.string() }).nullish(),
});

const prEnd = z.object({
  ref: z.string(),
  sha: z.string(),
  /** null when the fork was deleted */
  repo: repository.nullish(),
});

export const pullRequestPayload = z.object({
  action: z.string(),
  number: z.number().int(),
  pull_request: z.object({
    title: z.string(),
    user: z.object({ login: z.string() }).nullish(),
    head: prEnd,
    base: prEnd.extend({ repo: repository }),
  }),
  repository,
});
