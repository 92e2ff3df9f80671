export interface RetryPolicy {
  tries: number;
  baseMs: number;
  maxMs: number;
}

/** Runs `fn` until it succeeds or the tries run out, backing off exponentially with full jitter. */
export async function retry<T>(policy: RetryPolicy, fn: (attempt: number) => Promise<T>): Promise<T> {
  let last: unknown;
  for (let attempt = 1; attempt <= policy.tries; attempt++) {
    try {
      return await fn(attempt);
    } catch (e) {
      last = e;
      if (attempt < policy.tries) await Bun.sleep(Math.random() * Math.min(policy.maxMs, policy.baseMs * 2 ** (attempt - 1)));
    }
  }
  throw last;
}
