export { formatBytes, formatCount, LIMITS } from "./limits.ts";
export { parsePipeline, pipelineTooLarge, tooLarge } from "./parse.ts";
export { STEP_KINDS } from "./schema.ts";
export * from "./types.ts";
export { durationToMs, MAX_TIMER_MS, memoryToBytes, settingToMs } from "./units.ts";
