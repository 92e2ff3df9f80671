export { parsePipeline } from "./parse.ts";
export { envSchema, pipelineSchema, STEP_KINDS, stepSchema, taskName, taskSchema } from "./schema.ts";
export type { DeclaredTask } from "./schema.ts";
export * from "./types.ts";
export { durationToMs, memoryToBytes } from "./units.ts";
