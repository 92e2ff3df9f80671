import { z } from "@hono/zod-openapi";
import { formatCount, LIMITS } from "../../../shared/pipeline/index.ts";
import { MAX_TIME } from "../../history/attempts.ts";

/**
 * Request bodies and queries. Handlers validate with these very objects (parseBody,
 * parseQuery) and the document describes them, so the two cannot disagree.
 */

const group = z.string().min(1).max(200);
const variables = z
  .record(
    z.string().min(1).max(LIMITS.nameLength, `a variable name may be at most ${LIMITS.nameLength} characters`),
    z.string().max(LIMITS.variableBytes, `a variable's value may be at most ${formatCount(LIMITS.variableBytes)} characters`),
  )
  .refine((v) => Object.keys(v).length <= LIMITS.variables, `at most ${formatCount(LIMITS.variables)} variables`);

/** What `drover run` knows of the local checkout it uploads. */
const LocalCheckout = z
  .object({
    sha: z.string().regex(/^[0-9a-f]{40}([0-9a-f]{24})?$/, "a full commit sha").nullable(),
    branch: z.string().max(255).nullable(),
    message: z.string().max(64 * 1024).nullable(),
    author: z.string().max(512).nullable(),
    dirty: z.boolean(),
  })
  .partial()
  .openapi("LocalCheckout", { description: "a direct run's local HEAD: sha, branch, message, author, and whether the tree had uncommitted changes" });

export const SubmitRun = z
  .object({
    pipeline: z.string().min(1).openapi({ description: "the .drover.yml text" }),
    file: z.string().optional().openapi({ description: "file name used in error positions (default .drover.yml)" }),
    group: group.default("default"),
    variables: variables.default({}),
    source: LocalCheckout.optional().openapi({ description: "given: a direct run (event direct) of this checkout; absent: event api" }),
  })
  .openapi("SubmitRun");

// Coerced numbers carry an explicit type: the generator would otherwise document them as nullable.
export const ListRunsQuery = z.object({
  group: z.string().optional(),
  phase: z.string().optional().openapi({ description: "a RunPhase" }),
  result: z.string().optional().openapi({ description: "a RunResult" }),
  user: z.string().optional(),
  project: z.string().optional().openapi({ description: "a project's name" }),
  branch: z.string().optional().openapi({ description: "the source's branch (a pull request's source branch)" }),
  event: z.string().optional().openapi({ description: "the source's event: push, tag, pull_request, manual, schedule, direct, api" }),
  since: z.coerce.number().optional().openapi({ type: "number", description: "createdAt lower bound, epoch ms" }),
  until: z.coerce.number().optional().openapi({ type: "number", description: "createdAt upper bound, epoch ms" }),
  limit: z.coerce.number().int().min(1).max(1000).default(50),
});

export const RestartRun = z.object({ from: z.enum(["scratch", "failed"]).default("scratch") }).openapi("RestartRun");

// a fraction too: an attempt's readyAt has one, and is a bound as it is
const time = z.coerce.number().min(0).max(MAX_TIME).optional().openapi({ type: "number", description: "readyAt bound, epoch ms" });
const limit = z.coerce.number().int().min(1).max(1000).default(100);

export const ListAttemptsQuery = z.object({
  run: z.string().optional(),
  name: z.string().optional().openapi({ description: "task name" }),
  digest: z.string().optional().openapi({ description: "command digest" }),
  agent: z.string().optional().openapi({ description: "agent id" }),
  state: z.string().optional(),
  since: time,
  until: time,
  limit,
});

export const AttemptStatsQuery = z.object({
  name: z.string().optional(),
  since: time,
  limit: limit.openapi({ description: "how many task names, in name order, when no name is given" }),
});

export const CreateToken = z
  .object({
    user: z.string().min(1).max(128),
    role: z.enum(["admin", "member", "viewer"]),
    name: z.string().max(128).default(""),
  })
  .openapi("CreateToken");

export const CreateAgentToken = z
  .object({ group: z.string().min(1).max(128).openapi({ description: "the executor group agents registering with it join" }) })
  .openapi("CreateAgentToken");

export const GroupSettings = z
  .object({
    concurrency: z.number().int().min(1).nullable().default(null).openapi({ description: "null: unlimited" }),
    notify: z
      .object({ url: z.url(), secret: z.string().min(8).max(256) })
      .nullable()
      .default(null)
      .openapi({ description: "run-finished webhook, signed with the secret" }),
  })
  .openapi("GroupSettings");

export const GroupValue = z.object({ value: z.string().max(64 * 1024) }).openapi("GroupValueInput");

const scheduleFields = {
  pipeline: z.string().min(1),
  cron: z.string().min(1).max(200),
  group,
  variables,
  enabled: z.boolean(),
};

export const CreateSchedule = z
  .object({ ...scheduleFields, variables: variables.default({}), enabled: scheduleFields.enabled.default(true) })
  .openapi("CreateSchedule");

export const UpdateSchedule = z
  .object(scheduleFields)
  .partial()
  .refine((o) => Object.keys(o).length > 0, "give at least one field to change")
  .openapi("UpdateSchedule", { description: "at least one field", minProperties: 1 });

export const CreateHook = z.object({ pipeline: z.string().min(1), group }).openapi("CreateHook");

const FORGES = ["github", "gitea", "forgejo", "gitlab", "git"] as const;

// A leading '-' would reach git as an option; credentials belong in repo.credentials, where they are encrypted.
const repoUrl = z
  .string()
  .min(1)
  .max(2048)
  .regex(/^(https?:\/\/|ssh:\/\/|git:\/\/|file:\/\/|\/|[\w.-]+@[\w.-]+:)/, "a clone URL: https://…, ssh://…, git@host:path or an absolute path")
  .refine((url) => !/^\w+:\/\/[^/@]*:[^/@]*@/.test(url), "put the password or token in repo.credentials, not in the URL")
  .openapi({ description: "clone URL, e.g. https://github.com/acme/app.git" });

const credentials = z
  .union([
    z.string().min(1).openapi({ description: "a token (HTTPS); the user name is the forge's usual one" }),
    z.strictObject({ token: z.string().min(1), username: z.string().min(1).optional() }),
    z.strictObject({ username: z.string().min(1), password: z.string().min(1) }),
    z.strictObject({ ssh_key: z.string().min(1).openapi({ description: "a private key (PEM / OpenSSH), for ssh:// or git@ URLs" }) }),
  ])
  .openapi({ description: "stored encrypted, given to git only, never returned" });

/** Branch and tag names: git's rules, roughly; above all nothing git could read as an option or a range. */
export const refName = z
  .string()
  .min(1)
  .max(255)
  .regex(/^(?!-)(?!.*\.\.)(?!.*\/\/)[^\s~^:?*[\\\p{Cc}]+(?<![/.])$/u, "not a valid git branch or tag name");

export const CreateProject = z
  .object({
    name: z
      .string()
      .regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$/, "1-100 letters, digits, '_', '.' or '-', starting with a letter or digit"),
    repo: z.object({ url: repoUrl, forge: z.enum(FORGES).default("git"), credentials: credentials.optional() }),
    api_url: z
      .url({ protocol: /^https?$/ })
      .optional()
      .openapi({ description: "the forge's REST API base (e.g. https://api.github.com, https://host/api/v3, https://host/api/v1); defaulted from the repository URL" }),
    default_branch: refName.default("main"),
    pipeline_path: z
      .string()
      .min(1)
      .max(1024)
      .refine((p) => !p.startsWith("/") && !p.split("/").includes(".."), "a path inside the repository")
      .default(".drover.yml"),
    poll: z
      .string()
      .regex(/^(\d+(ms|s|m|h|d))+$/, "a duration like 2m or 1h")
      .optional()
      .openapi({ description: "poll the repository's heads this often (at least 10s); absent: webhooks only" }),
    fork_approval: z.boolean().default(false).openapi({ description: "pull requests from forks wait for an approval" }),
  })
  .openapi("CreateProject");

export const ProjectRunRequest = z
  .object({ branch: refName, tag: refName, sha: z.string().regex(/^[0-9a-f]{7,64}$/, "a hex commit sha") })
  .partial()
  .refine((o) => Object.keys(o).length <= 1, "give at most one of branch, tag or sha")
  .openapi("ProjectRunRequest", { description: "at most one of branch, tag or sha; none: the default branch", maxProperties: 1 });
