/**
 * Per-device telemetry rate limit (device-protocol.md "Limits": at most 20 frames/s sustained,
 * bursts after reconnect allowed): a token bucket per device, refilled at the sustained rate,
 * as deep as the allowed burst.
 *
 * A frame over the limit is held back, not refused: its PUBACK waits until a token is free.
 * A device catching up after an outage (its backlog is legitimate data) then drains at the
 * sustained rate and loses nothing; aedes reads no further packets from that socket while the
 * held frames are inside authorizePublish, so holding costs no unbounded memory (see gateway.ts).
 * Only a frame that would have to wait longer than `maxDelayMs` (a device flooding far beyond
 * the contract) is dead-lettered with reason `rate_limited` — still acknowledged, still visible.
 */

export interface RateLimitOptions {
  /** Sustained frames per second per device. Default 20 (device-protocol.md "Limits"). */
  framesPerSecond: number;
  /**
   * Bucket depth: frames a device may send at once. Default 3600: the backlog of an hour offline
   * at the default 1 s frame length, so a device catching up after a reconnect (or `sim replay
   * --speed max` of a 30-minute record) is not slowed down, while a runaway device is held to the
   * sustained rate after a few seconds. A connection starts with a full bucket.
   */
  burstFrames: number;
  /** Longest a frame is held back waiting for a token; beyond it the frame is dead-lettered. Default 10 s. */
  maxDelayMs: number;
  /** `delay` (default): hold frames over the limit; `dead_letter`: dead-letter them at once. */
  mode: 'delay' | 'dead_letter';
}

export const DEFAULT_RATE_LIMIT: Readonly<RateLimitOptions> = Object.freeze({ framesPerSecond: 20, burstFrames: 3600, maxDelayMs: 10_000, mode: 'delay' });

/** `admitted`: go on (after `ready`, when given); `refused`: over the limit beyond what may be held back. */
export type RateDecision = { admitted: true; delayedMs: number; ready?: Promise<void> } | { admitted: false };

interface DeviceBucket {
  tokens: number;
  updatedMs: number;
  /** Frames admitted with a delay whose wait is not over yet. */
  waiting: number;
  /** Settles when the last delayed frame may go: later frames queue behind it, so order is kept. */
  tail: Promise<void>;
}

export class RateLimiter {
  readonly #options: RateLimitOptions;
  readonly #now: () => number;
  readonly #buckets = new Map<string, DeviceBucket>();

  constructor(options: Partial<RateLimitOptions> = {}, now: () => number = Date.now) {
    this.#options = { ...DEFAULT_RATE_LIMIT, ...options };
    if (!(this.#options.framesPerSecond > 0) || !(this.#options.burstFrames >= 1)) throw new RangeError('rate limit needs framesPerSecond > 0 and burstFrames ≥ 1');
    this.#now = now;
  }

  /** Takes a token for one frame of `deviceId`. */
  admit(deviceId: string): RateDecision {
    const now = this.#now();
    const { framesPerSecond, burstFrames } = this.#options;
    let b = this.#buckets.get(deviceId);
    if (!b) {
      // A new connection starts with a full bucket: the burst after a reconnect.
      b = { tokens: burstFrames, updatedMs: now, waiting: 0, tail: Promise.resolve() };
      this.#buckets.set(deviceId, b);
    }
    b.tokens = Math.min(burstFrames, b.tokens + ((now - b.updatedMs) * framesPerSecond) / 1000);
    b.updatedMs = now;
    if (b.tokens >= 1 && b.waiting === 0) {
      b.tokens -= 1;
      return { admitted: true, delayedMs: 0 };
    }
    // Negative tokens are frames already promised a later slot; this one comes after them.
    const waitMs = Math.max(0, Math.ceil(((1 - b.tokens) * 1000) / framesPerSecond));
    const maxDelayMs = this.#options.mode === 'dead_letter' ? 0 : this.#options.maxDelayMs;
    if (waitMs > maxDelayMs) return { admitted: false };
    b.tokens -= 1;
    b.waiting++;
    const bucket = b;
    const due = now + waitMs;
    const ready = b.tail.then(() => new Promise<void>((resolve) => setTimeout(resolve, Math.max(0, due - this.#now())))).then(() => { bucket.waiting--; });
    b.tail = ready;
    return { admitted: true, delayedMs: waitMs, ready };
  }

  /** Forgets a device (it disconnected); its next connection starts with a full bucket. */
  forget(deviceId: string): void {
    const b = this.#buckets.get(deviceId);
    if (b && b.waiting === 0) this.#buckets.delete(deviceId);
  }
}
