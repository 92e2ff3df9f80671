import { z } from "zod";
import { stepSpecSchema } from "../pipeline/step-spec.ts";
import type { IdleFrame } from "./idle-frames.ts";
import { prefetchSchema } from "./prefetch.ts";

/** The step shape comes from the pipeline's own schema. */
export const stepSchema = stepSpecSchema;
export type AssignedStep = z.infer<typeof stepSchema>;

/**
 * What the agent checks out before a repository task's first step. Credentials travel only here and
 * reach git only: never a step's environment, a log, a process's arguments or a file left in the work dir.
 */
export const checkoutSchema = z.object({
  /** clone URL (https://…, ssh://…, git@host:path, or a local path in tests) */
  url: z.string(),
  /** the exact commit to check out */
  sha: z.string(),
  /** the ref to fetch so that the sha is reachable: refs/heads/main, refs/tags/v1, refs/pull/5/head, refs/merge-requests/5/head */
  ref: z.string().nullable(),
  /** shallow depth; null for the full history */
  depth: z.number().int().min(1).nullable(),
  submodules: z.boolean(),
  /** where in the work dir, relative to it ("" for the work dir itself) */
  path: z.string(),
  credentials: z
    .discriminatedUnion("kind", [
      z.object({ kind: z.literal("token"), username: z.string(), token: z.string() }),
      z.object({ kind: z.literal("ssh"), privateKey: z.string() }),
    ])
    .nullable(),
});
export type CheckoutSpec = z.infer<typeof checkoutSchema>;

export const assignmentSchema = z.object({
  attempt: z.string(),
  run: z.string(),
  task: z.string(),
  number: z.number().int().min(1),
  arch: z.string(),
  env: z.record(z.string(), z.string()),
  /** workspace archive of the run (direct runs), fetched over HTTP before the first step */
  workspace: z.string().nullable(),
  timeoutMs: z.number().int().nullable(),
  /** values the agent must redact from output (variables marked secret) */
  secrets: z.array(z.string()),
  steps: z.array(stepSchema),
  /** the task asked for the sandbox executor; the agent refuses it unless it is one */
  sandbox: z.boolean().default(false),
  /** the sandbox lets the step use the host's network */
  network: z.boolean().default(false),
  /** the task's `resources.memory`: the step's whole tree is held to it where the agent can */
  memoryBytes: z.number().int().nullable().default(null),
  /** repository runs: the commit to check out before the first step; null for none */
  checkout: checkoutSchema.nullable().default(null),
});
export type Assignment = z.infer<typeof assignmentSchema>;

export const refuseSchema = z.object({ type: z.literal("refuse"), code: z.string(), message: z.string() });
export const assignSchema = z.object({ type: z.literal("assign"), assignment: assignmentSchema });
export const cancelSchema = z.object({ type: z.literal("cancel"), attempt: z.string(), graceMs: z.number().int() });
/** Reports applied since the last ack frame; the agent may drop them. */
export const ackSchema = z.object({ type: z.literal("ack"), ids: z.array(z.string()) });
export const errorFrameSchema = z.object({ type: z.literal("error"), code: z.string(), message: z.string() });
export const drainSchema = z.object({ type: z.literal("drain") });
/** Asks a live sibling to end a dead agent's orphaned processes and remove its workspaces. */
export const cleanupSchema = z.object({
  type: z.literal("cleanup"),
  cleanup: z.string(),
  agent: z.string(),
  /** the dead agent's name, which its own dir (and the work trees it kept there) is named by */
  name: z.string().optional(),
  host: z.string(),
  workDir: z.string(),
  attempts: z.array(z.string()),
});
export type CleanupRequest = z.infer<typeof cleanupSchema>;

/** The frames an idle agent never reads (and so loads zod only for, on the first of them); see idle-frames.ts for the others. */
export const coordinatorMessageSchema = z.discriminatedUnion("type", [
  refuseSchema,
  assignSchema,
  cancelSchema,
  ackSchema,
  errorFrameSchema,
  drainSchema,
  cleanupSchema,
  prefetchSchema,
]);
export type CoordinatorMessage = z.infer<typeof coordinatorMessageSchema> | IdleFrame;
