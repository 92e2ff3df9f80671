/**
 * The WebSocket close code a coordinator node sends its agents when it is stopping (SIGTERM): they move to
 * another of their `--coordinator` URLs at once, and resume their attempts and logs there.
 */
export const NODE_DRAINING_CLOSE = 4010;
