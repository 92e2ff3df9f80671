import { z } from "zod";

export const RUN_EVENTS = ["push", "tag", "pull_request", "manual", "schedule", "direct", "api"] as const;
export type RunEvent = (typeof RUN_EVENTS)[number];

/**
 * What a run builds and why: the commit, where it came from and who or what started it.
 * Forge payloads, manual project runs, direct runs and triggers all end up in this one shape.
 */
export const runSourceSchema = z.object({
  event: z.enum(RUN_EVENTS),
  /** the full commit sha the run builds; null when not known (api runs without a repository) */
  sha: z.string().nullable(),
  /** the ref as the forge or git names it: refs/heads/main, refs/tags/v1, refs/pull/5/head */
  ref: z.string().nullable(),
  branch: z.string().nullable(),
  tag: z.string().nullable(),
  pr: z
    .object({
      number: z.number().int(),
      sourceBranch: z.string(),
      targetBranch: z.string(),
      /** the head comes from another repository: no group secrets, and maybe an approval first */
      fromFork: z.boolean(),
    })
    .nullable(),
  /** the commit before a push (null for a new branch or unknown): `changed:` compares before..sha */
  before: z.string().nullable(),
  message: z.string().nullable(),
  author: z.string().nullable(),
  /** clone URL of the repository */
  repoUrl: z.string().nullable(),
  /** who or what started the run: a user name, `webhook:<delivery id>`, `poll`, `schedule:<id>` */
  trigger: z.string(),
  /** direct runs: whether the uploaded tree had changes not in its commit */
  dirty: z.boolean().optional(),
});
export type RunSource = z.infer<typeof runSourceSchema>;

/** A source with nothing known but its event and trigger; `known` fills in what is (undefined values are left out). */
export function sourceOf(event: RunEvent, trigger: string, known: Partial<RunSource> = {}): RunSource {
  const given = Object.fromEntries(Object.entries(known).filter(([, value]) => value !== undefined));
  return { event, sha: null, ref: null, branch: null, tag: null, pr: null, before: null, message: null, author: null, repoUrl: null, ...given, trigger };
}
