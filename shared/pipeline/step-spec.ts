import { z } from "zod";
import { TEST_REPORT_FORMATS } from "./types.ts";

/**
 * A step as the pipeline parser produces it and as an assignment carries it to the agent: one schema,
 * so the wire shape cannot drift from what the pipeline allows.
 */
export const stepSpecSchema = z.discriminatedUnion("kind", [
  z.object({ kind: z.literal("run"), name: z.string(), command: z.string(), env: z.record(z.string(), z.string()) }),
  z.object({ kind: z.literal("save_to_workspace"), name: z.string(), paths: z.array(z.string()) }),
  z.object({ kind: z.literal("restore_workspace"), name: z.string(), dest: z.string().optional() }),
  z.object({ kind: z.literal("save_cache"), name: z.string(), key: z.string(), paths: z.array(z.string()) }),
  z.object({ kind: z.literal("restore_cache"), name: z.string(), keys: z.array(z.string()), dest: z.string().optional() }),
  z.object({ kind: z.literal("save_artifact"), name: z.string(), paths: z.array(z.string()) }),
  z.object({ kind: z.literal("test_results"), name: z.string(), paths: z.array(z.string()), format: z.enum(TEST_REPORT_FORMATS) }),
]);

export type StepSpec = z.infer<typeof stepSpecSchema>;
