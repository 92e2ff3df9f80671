/** Bump when a frame changes shape or meaning; hello carries it and the coordinator refuses a mismatch. */
export const PROTOCOL_VERSION = 5;
export const AGENT_VERSION = "0.1.0";

/** Why an agent speaking `spoken` is refused, whichever door it came in by (the WebSocket's hello, the archive API). */
export function versionMismatch(spoken: number | null, agentVersion = "(unknown version)"): string {
  const side = spoken !== null && spoken > PROTOCOL_VERSION ? "the coordinator" : "the agent";
  return `agent ${agentVersion} speaks protocol ${spoken ?? "(none)"}, this coordinator speaks ${PROTOCOL_VERSION}: upgrade ${side} (download the matching agent from /download/)`;
}
/** A control frame larger than this is refused unread. */
export const MAX_CONTROL_FRAME_BYTES = 256 * 1024;
/** A log chunk larger than this is refused; the agent sends at most 256 KiB per chunk. */
export const MAX_LOG_FRAME_BYTES = 1024 * 1024;
