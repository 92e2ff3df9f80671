/** The longest between two instants heartbeats are lined up on, and so between two lease flushes. */
const MAX_SLOT_MS = 1000;

export interface HeartbeatSlots {
  /** how far apart the instants are: a whole fraction of the heartbeat interval, so that beats stay on them */
  slotMs: number;
  /** the welcome's `firstHeartbeatMs`: from now to the next instant */
  firstHeartbeatIn(now: number): number;
  /** from now to the next flush of the leases, a little after an instant, once its beats have come */
  nextFlushIn(now: number): number;
}

/**
 * Each message wakes the coordinator's event loop, and a wake-up costs far more than a heartbeat's handling: a bare
 * Bun WebSocket server took 1.1–1.3% of a core for 200 messages a second one at a time, 0.13% for the same messages
 * two hundred at once. So agents are asked to beat on the same few instants a second (of this node's clock), and the
 * leases are flushed once per instant. A flush is at most `leaseTtlMs / 4` after a beat, as before: the lease frame
 * waits for it, and the agent's deadline, counted from the beat's send, is never in reach of that wait.
 */
export function heartbeatSlots(heartbeatMs: number, leaseTtlMs: number): HeartbeatSlots {
  const slotMs = heartbeatMs / Math.ceil(heartbeatMs / Math.min(MAX_SLOT_MS, leaseTtlMs / 4));
  const flushLagMs = Math.min(100, slotMs / 4);
  const untilNext = (t: number) => slotMs - (((t % slotMs) + slotMs) % slotMs);
  return {
    slotMs,
    firstHeartbeatIn: (now) => Math.round(untilNext(now)),
    nextFlushIn: (now) => untilNext(now - flushLagMs),
  };
}
