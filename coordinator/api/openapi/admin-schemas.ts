import { z } from "@hono/zod-openapi";
import { ms, msOrNull } from "./run-schemas.ts";

/** Responses of tokens, run groups and triggers. Secrets and token hashes never appear in them. */

const role = z.enum(["admin", "member", "viewer"]);

export const Token = z
  .object({ id: z.string(), user: z.string(), role, name: z.string(), createdAt: ms, revokedAt: msOrNull })
  .openapi("Token");
export const TokenCreated = z
  .object({ ...Token.shape, token: z.string().openapi({ description: "the bearer token, shown only here" }) })
  .openapi("TokenCreated");
export const TokenList = z.object({ tokens: z.array(Token) }).openapi("TokenList");

export const AgentToken = z
  .object({ id: z.string(), group: z.string(), createdAt: ms, revokedAt: msOrNull })
  .openapi("AgentToken");
export const AgentTokenCreated = z
  .object({ id: z.string(), group: z.string(), token: z.string().openapi({ description: "shown only here" }), createdAt: ms })
  .openapi("AgentTokenCreated");
export const AgentTokenList = z.object({ tokens: z.array(AgentToken) }).openapi("AgentTokenList");

export const Revoked = z.object({ id: z.string(), revoked: z.literal(true) });
export const Deleted = z.object({ id: z.string(), deleted: z.literal(true) });

export const Group = z
  .object({ name: z.string(), concurrency: z.number().int().nullable(), notifyUrl: z.string().nullable() })
  .openapi("Group");
export const GroupList = z.object({ groups: z.array(Group) }).openapi("GroupList");
export const GroupSettingsSaved = z.object({
  name: z.string(),
  concurrency: z.number().int().nullable(),
  notify: z.object({ url: z.string() }).nullable(),
});

export const GroupValueList = z.object({
  values: z.array(
    z.object({
      name: z.string(),
      secret: z.boolean(),
      value: z.string().nullable().openapi({ description: "null for secrets" }),
      updatedAt: ms,
    }),
  ),
});
export const GroupValueSaved = z.object({ group: z.string(), name: z.string(), secret: z.boolean() });
export const ValueDeleted = z.object({ deleted: z.literal(true) });

export const Schedule = z
  .object({
    id: z.string(),
    cron: z.string(),
    pipeline: z.string(),
    group: z.string(),
    variables: z.array(z.string()).openapi({ description: "names only: values may be secrets" }),
    user: z.string(),
    enabled: z.boolean(),
    lastTick: msOrNull.openapi({ description: "the last tick a run was created for" }),
    createdAt: ms,
    nextTick: msOrNull,
  })
  .openapi("Schedule");
export const ScheduleList = z.object({ schedules: z.array(Schedule) }).openapi("ScheduleList");

const hookFields = { id: z.string(), pipeline: z.string(), group: z.string(), user: z.string(), createdAt: ms };
export const Hook = z.object(hookFields).openapi("Hook");
export const HookCreated = z
  .object({
    ...hookFields,
    secret: z.string().openapi({ description: "HMAC-SHA256 key for X-Hub-Signature-256, shown only here" }),
    url: z.string().openapi({ description: "where to POST the signed payload" }),
  })
  .openapi("HookCreated");
export const HookList = z.object({ hooks: z.array(Hook) }).openapi("HookList");

export const GcReport = z.object({
  removed: z.record(z.string(), z.number().int()).openapi({ description: "what each collector removed" }),
});
