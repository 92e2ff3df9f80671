/**
 * Whether a queued attempt has waited past the queue timeout at `now`, and if so the change that fails it
 * (the `queue_timeout` event of attempt-transitions.ts). The dispatcher only asks and applies the answer.
 * The task then fails at once without spending its retries (attempt-outcome.ts).
 */
export function queueTimeout(readyAt: number, now: number, timeoutMs: number): { state: "failed"; error: string; endedAt: number } | null {
  const waited = now - readyAt;
  if (waited <= timeoutMs) return null;
  return { state: "failed", error: `queue timeout: no agent took the attempt in ${Math.round(waited / 1000)} s`, endedAt: now };
}
