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

export const SubmitRun = z
  .object({
    pipeline: z.string().min(1).openapi({ description: "the .drover.yml text" }),
    file: z.string().optional().openapi({ description: "file name used in error positions (default .drover.yml)" }),
    group: group.default("default"),
    variables: variables.default({}),
  })
  .openapi("SubmitRun");

// Coerced numbers carry an explicit type: the generator would otherwise document them as nullable.
export const ListRunsQuery = z.object({
  group: z.string().optional(),
  phase: z.string().optional().openapi({ description: "a RunPhase" }),
  result: z.string().optional().openapi({ description: "a RunResult" }),
  user: z.string().optional(),
  since: z.coerce.number().optional().openapi({ type: "number", description: "createdAt lower bound, epoch ms" }),
  until: z.coerce.number().optional().openapi({ type: "number", description: "createdAt upper bound, epoch ms" }),
  limit: z.coerce.number().int().min(1).max(1000).default(50),
});

export const RestartRun = z.object({ from: z.enum(["scratch", "failed"]).default("scratch") }).openapi("RestartRun");

const time = z.coerce
  .number()
  .int()
  .min(0)
  .max(MAX_TIME)
  .optional()
  .openapi({ type: "integer", description: "readyAt bound, epoch ms" });
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
