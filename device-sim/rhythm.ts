/**
 * Normal sinus rhythm generator with physiological beat-to-beat variability.
 *
 * RR(t) = mean RR
 *       + respiratory sinus arrhythmia (sinusoid at the breathing rate, 0.2–0.3 Hz, HF band)
 *       + Mayer-wave / baroreflex oscillation (≈ 0.1 Hz, LF band)
 *       + slow drift (0.01–0.03 Hz, VLF band)
 *       + AR(1) noise (beat-to-beat jitter).
 * Bands and the typical short-term SDNN of healthy adults at rest (tens of ms) follow the Task
 * Force of the ESC and NASPE, "Heart rate variability: standards of measurement, physiological
 * interpretation and clinical use", Circulation 93:1043–1065 (1996). The amplitudes below give
 * an SDNN of about 32–57 ms over several minutes (SD of a sinusoid = amplitude / √2).
 */
import { gaussian, uniform, createPrng, type RandomSource } from './prng.ts';
import type { TimedBeat } from './frames.ts';

/**
 * Normal rhythm stays inside these RR bounds, so it never meets an alarm criterion and ground
 * truth never sees an episode that was not scripted: RR ≥ 500 ms is never HR > 120 bpm (the
 * tachycardia limit alarm), RR ≤ 1200 ms never HR < 50 bpm (the bradycardia limit alarm). The
 * generator's own spread stays well inside (546–1141 ms over 5 million beats of 1000 seeded
 * devices), so the bounds do not shape the rhythm; they only guarantee it.
 */
export const NORMAL_RR_BOUNDS_MS = { min: 500, max: 1200 } as const;

/** Parameters of one device's sinus rhythm. */
export interface SinusRhythmParams {
  /** Mean heart rate, bpm. */
  meanHrBpm: number;
  /** Respiratory sinus arrhythmia: amplitude (ms) and breathing rate (Hz). */
  rsaAmplitudeMs: number;
  respirationHz: number;
  /** Low-frequency (≈ 0.1 Hz) oscillation: amplitude (ms) and frequency (Hz). */
  lfAmplitudeMs: number;
  lfHz: number;
  /** Very-low-frequency drift: amplitude (ms) and frequency (Hz). */
  vlfAmplitudeMs: number;
  vlfHz: number;
  /** Standard deviation of the AR(1) beat-to-beat noise, ms. */
  noiseSdMs: number;
}

/** Draws plausible parameters for one adult at rest: mean HR 60–85 bpm, SDNN ≈ 32–57 ms. */
export function randomSinusParams(random: RandomSource): SinusRhythmParams {
  return {
    meanHrBpm: uniform(random, 60, 85),
    rsaAmplitudeMs: uniform(random, 30, 50),
    respirationHz: uniform(random, 0.2, 0.3),
    lfAmplitudeMs: uniform(random, 25, 45),
    lfHz: uniform(random, 0.08, 0.12),
    vlfAmplitudeMs: uniform(random, 20, 40),
    vlfHz: uniform(random, 0.01, 0.03),
    noiseSdMs: uniform(random, 8, 15),
  };
}

/** Options for {@link SinusRhythm}. */
export interface SinusRhythmOptions {
  /** Seed of the device's random stream (same seed, same rhythm). */
  seed: number;
  /** Overrides of the randomly drawn parameters. */
  params?: Partial<SinusRhythmParams>;
}

/** AR(1) coefficient of the beat-to-beat noise: neighbouring beats are mildly correlated. */
const NOISE_AR = 0.5;

/** A device's sinus node: gives the next RR interval for a beat at a given time. */
export class SinusRhythm {
  readonly params: SinusRhythmParams;
  readonly #random: RandomSource;
  readonly #phases: [number, number, number];
  #noiseMs = 0;

  constructor(options: SinusRhythmOptions) {
    this.#random = createPrng(options.seed);
    this.params = { ...randomSinusParams(this.#random), ...options.params };
    const phase = () => uniform(this.#random, 0, 2 * Math.PI);
    this.#phases = [phase(), phase(), phase()];
  }

  /** Mean RR interval, ms. */
  get meanRrMs(): number {
    return 60_000 / this.params.meanHrBpm;
  }

  /** Uniform random number from the device's stream (shared with the scenario engine). */
  random(): number {
    return this.#random();
  }

  /**
   * RR interval (integer ms) from a beat at `elapsedMs` (ms since the rhythm started) to the next.
   */
  nextRrMs(elapsedMs: number): number {
    const p = this.params;
    const s = elapsedMs / 1000;
    const [a, b, c] = this.#phases;
    this.#noiseMs = NOISE_AR * this.#noiseMs + Math.sqrt(1 - NOISE_AR * NOISE_AR) * p.noiseSdMs * gaussian(this.#random);
    const rr =
      this.meanRrMs +
      p.rsaAmplitudeMs * Math.sin(2 * Math.PI * p.respirationHz * s + a) +
      p.lfAmplitudeMs * Math.sin(2 * Math.PI * p.lfHz * s + b) +
      p.vlfAmplitudeMs * Math.sin(2 * Math.PI * p.vlfHz * s + c) +
      this.#noiseMs;
    return Math.round(Math.min(NORMAL_RR_BOUNDS_MS.max, Math.max(NORMAL_RR_BOUNDS_MS.min, rr)));
  }
}

/**
 * Endless normal sinus beats starting within one RR interval after `t0Ms`.
 * @param t0Ms device time the rhythm starts, ms since the Unix epoch
 */
export function* sinusBeats(rhythm: SinusRhythm, t0Ms: number): Generator<TimedBeat> {
  let t = t0Ms + Math.floor(rhythm.random() * rhythm.meanRrMs);
  for (;;) {
    yield { tMs: t, cls: 'N' };
    t += rhythm.nextRrMs(t - t0Ms);
  }
}

/** Standard deviation of RR intervals (SDNN), ms. */
export function sdnnMs(rrMs: readonly number[]): number {
  const mean = rrMs.reduce((s, x) => s + x, 0) / rrMs.length;
  return Math.sqrt(rrMs.reduce((s, x) => s + (x - mean) ** 2, 0) / rrMs.length);
}
