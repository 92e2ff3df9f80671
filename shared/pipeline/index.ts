export { parsePipeline } from "./parse.ts";
export { STEP_KINDS } from "./schema.ts";
export * from "./types.ts";
export { durationToMs, memoryToBytes } from "./units.ts";
