export * from "./agent-messages.ts";
export * from "./coordinator-messages.ts";
export * from "./log-frame.ts";
export * from "./version.ts";
export * from "./archive-api.ts";
export * from "./close-codes.ts";
export * from "./executors.ts";
export * from "./idle-frames.ts";
