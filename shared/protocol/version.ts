/** Bump when a frame changes shape or meaning; hello carries it and the coordinator refuses a mismatch. */
export const PROTOCOL_VERSION = 4;
export const AGENT_VERSION = "0.1.0";
/** A control frame larger than this is refused unread. */
export const MAX_CONTROL_FRAME_BYTES = 256 * 1024;
/** A log chunk larger than this is refused; the agent sends at most 256 KiB per chunk. */
export const MAX_LOG_FRAME_BYTES = 1024 * 1024;
