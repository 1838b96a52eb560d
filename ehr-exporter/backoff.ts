/**
 * Exponential backoff with "full jitter": the delay before retry n (n = 1, 2, …) is uniform in
 * [0, min(maxDelayMs, baseDelayMs × 2^(n-1))]. Full jitter spreads the retries of many clients
 * that failed together, so a recovering server is not hit by synchronised waves
 * (Brooker, "Exponential Backoff And Jitter", AWS Architecture Blog, 2015).
 */
export interface BackoffPolicy {
  /** Total attempts including the first one (≥ 1). */
  maxAttempts: number;
  /** Upper bound of the first retry delay, ms. */
  baseDelayMs: number;
  /** Cap of any single delay, ms. */
  maxDelayMs: number;
}

export const DEFAULT_BACKOFF: Readonly<BackoffPolicy> = Object.freeze({ maxAttempts: 5, baseDelayMs: 200, maxDelayMs: 10_000 });

/**
 * Delay before retry number `retry` (1 = the first retry), ms.
 * @param random - uniform in [0, 1); injectable for deterministic tests.
 */
export function backoffDelayMs(retry: number, policy: BackoffPolicy, random: () => number = Math.random): number {
  const ceiling = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** Math.max(0, retry - 1));
  return Math.floor(random() * ceiling);
}

/** Resolves after `ms`, or rejects with the signal's reason as soon as it aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason);
      return;
    }
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
