/**
 * Per-device clock skew: device time minus gateway time (device-protocol.md "Limits": smaller
 * skew than the 24 h rejection limit is recorded per device and shown).
 *
 * One sample per frame: the device clock at the frame's end (`ts + durMs`, the earliest moment
 * the device can send it) minus the gateway's receive time. Transit and queueing only ever make
 * a sample smaller than the true skew — by the network latency, or by minutes for a backlog sent
 * after a reconnect — so the estimate is an upper envelope: it follows a higher sample quickly
 * and a lower one slowly. A device whose clock is stepped back (NTP correction) is followed
 * within about 1/fallWeight frames.
 */

export interface ClockSkewOptions {
  /** Weight of a sample above the estimate. Default 0.5. */
  riseWeight: number;
  /** Weight of a sample below the estimate. Default 0.05 (≈ 20 frames to follow a step down). */
  fallWeight: number;
}

/** Device clock at the frame's end minus the gateway receive time, ms. */
export function skewSampleMs(frame: { ts: number; durMs: number }, receivedAtMs: number): number {
  return frame.ts + frame.durMs - receivedAtMs;
}

export class ClockSkewEstimator {
  readonly #rise: number;
  readonly #fall: number;
  #valueMs: number | undefined;

  constructor(options: Partial<ClockSkewOptions> = {}, initialMs?: number) {
    this.#rise = options.riseWeight ?? 0.5;
    this.#fall = options.fallWeight ?? 0.05;
    this.#valueMs = initialMs;
  }

  /** The smoothed skew, ms; undefined before the first sample. */
  get valueMs(): number | undefined { return this.#valueMs; }

  /** Adds one sample and returns the new estimate. */
  update(sampleMs: number): number {
    const v = this.#valueMs;
    this.#valueMs = v === undefined ? sampleMs : v + (sampleMs > v ? this.#rise : this.#fall) * (sampleMs - v);
    return this.#valueMs;
  }
}
