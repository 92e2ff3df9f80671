import type { Welcome } from "./idle-frames.ts";

export interface HeartbeatClock {
  now(): number;
  setTimeout(fire: () => void, ms: number): unknown;
  clearTimeout(timer: unknown): void;
}

const realClock: HeartbeatClock = {
  now: () => performance.now(),
  setTimeout: (fire, ms) => setTimeout(fire, ms),
  clearTimeout: (timer) => clearTimeout(timer as Timer),
};

/**
 * Sends an agent's heartbeats as its welcome says: every `heartbeatMs`, the first `firstHeartbeatMs` after the
 * welcome when the coordinator gave one (it lines its agents' heartbeats up, so that many arrive in one wake-up of its
 * event loop). Each beat is timed from the first, not from the one before: a timer fires a little late every time, and
 * an interval's lateness would add up until the agent left its slot. Returns the function that stops the beats.
 */
export function scheduleHeartbeats(
  welcome: Pick<Welcome, "heartbeatMs" | "firstHeartbeatMs">,
  beat: () => void,
  clock: HeartbeatClock = realClock,
): () => void {
  const every = welcome.heartbeatMs;
  let next = clock.now() + Math.min(welcome.firstHeartbeatMs ?? every, every);
  const fire = () => {
    beat();
    const now = clock.now();
    next += every;
    // a process stopped or starved past its next beats has just sent one, not one per beat it missed
    if (next <= now) next += Math.floor((now - next) / every + 1) * every;
    timer = clock.setTimeout(fire, next - now);
  };
  let timer = clock.setTimeout(fire, next - clock.now());
  return () => clock.clearTimeout(timer);
}
