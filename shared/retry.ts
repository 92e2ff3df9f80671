export interface RetryPolicy {
  tries: number;
  baseMs: number;
  maxMs: number;
}

/** Backoff with full jitter, so many clients that failed together do not come back in lockstep. */
export function backoffMs(attempt: number, baseMs = 250, maxMs = 10_000): number {
  return Math.random() * Math.min(maxMs, baseMs * 2 ** attempt);
}

export interface RetryOptions {
  /** whether an error is worth another try; by default every error is */
  retryIf?: (error: unknown) => boolean;
  signal?: AbortSignal;
}

/** Runs `fn` until it succeeds or the tries run out, backing off exponentially with full jitter. */
export async function retry<T>(policy: RetryPolicy, fn: (attempt: number) => Promise<T>, options: RetryOptions = {}): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn(attempt);
    } catch (e) {
      const again = attempt < policy.tries && !options.signal?.aborted && (options.retryIf?.(e) ?? true);
      if (!again) throw e;
      await pause(backoffMs(attempt - 1, policy.baseMs, policy.maxMs), options.signal);
      // aborted during the pause: the error that led to it is the answer, no further try
      if (options.signal?.aborted) throw e;
    }
  }
}

/** Sleeps `ms`, waking at once when `signal` aborts. */
function pause(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener("abort", done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener("abort", done, { once: true });
  });
}
