/**
 * RR intervals of atrial fibrillation for simulated episodes.
 *
 * Model: RR(n) = c(n) + x(n), after the decomposition of Hennig, Maass, Hayano & Heinrichs,
 * "Exponential distribution of long heart beat intervals during atrial fibrillation and their
 * relevance for white noise behaviour in power spectrum" (arXiv cond-mat/0605295, 2006; 130
 * long-term AF recordings): an uncorrelated part x(n), exponentially distributed with rate γ
 * (they measured γ = 3–12 Hz; it is the white-noise part of the AF spectrum and gives the
 * exponential tail of long intervals absent in sinus rhythm), on top of a slowly varying
 * correlated part c(n), here an AR(1) baseline, which also sets the shortest intervals (the AV
 * node's refractoriness). The result is unimodal, right-skewed and without beat-to-beat
 * correlation, as "Considerations on the nature of irregularity of the sequence of RR intervals
 * and the function of the atrioventricular node in atrial fibrillation in man based on time
 * series analysis" (Jpn Heart J, 1984) describes AF, in contrast to sinus arrhythmia, whose
 * successive intervals are correlated.
 *
 * Parameters, checked against the AF stretches of the 12 MIT-BIH AFDB records in
 * ../shared/data/ecg/afdb (1394 one-minute windows of `(AFIB`; medians with IQR): HR 101
 * (97–107) bpm, coefficient of variation 0.19 (0.13–0.25), RMSSD 150 (115–208) ms, lag-1
 * autocorrelation 0.02 (−0.08–0.11), shortest RR per minute 380 (344–432) ms. With a mean HR
 * of 90–110 bpm and 1/γ of 85–160 ms (γ ≈ 6–12 Hz) this model gives, over 1000 seeded
 * 100-beat episodes, CV 0.20 (0.17–0.23), RMSSD 169 (143–197) ms, lag-1 autocorrelation 0.00
 * (−0.06–0.07); its shortest intervals, 464 (433–495) ms, are longer than afdb's (the model has
 * no very short coupled beats). test/device-sim/afib-rr.test.ts checks these properties.
 *
 * Deliberate departures, so an AF episode raises the AF alarm and nothing else:
 *  - never `TACHY.consecutiveBeats` consecutive RR < 500 ms (the tachycardia limit alarm): after
 *    4 short intervals the next one is drawn on the condition RR ≥ 500 ms, which for the
 *    exponential part is a shift (it is memoryless). Real AF at these rates has such a run in
 *    about 20 % of its minutes (afdb), a legitimate tachycardia alarm whose timing the ground
 *    truth could only state by re-implementing the limit alarm's hysteresis;
 *  - never 5 consecutive RR > 1200 ms (bradycardia limit) and never RR ≥ 3000 ms (pause): the
 *    exponential part is drawn truncated (inverse CDF) when needed; at these rates this almost
 *    never binds.
 * Mean HR is limited to 110 bpm for the same reason: at 120–130 bpm half the intervals are
 * below 500 ms and the tachycardia guard would distort the distribution.
 */
import { BRADY, BRADY_RR_MS, PAUSE_MIN_RR_MS, TACHY, TACHY_RR_MS } from './alarm-criteria.ts';
import { gaussian, uniform, type RandomSource } from './prng.ts';

/** Default mean heart rate range of simulated AF, bpm (afdb IQR 97–107 bpm). */
export const AF_HR_RANGE_BPM: readonly [number, number] = [90, 110];
/** Range of the mean of the exponential part, 1/γ, ms (Hennig et al.: γ = 3–12 Hz). */
export const AF_TAIL_MEAN_RANGE_MS: readonly [number, number] = [85, 160];
/** Correlated baseline: AR(1) coefficient and standard deviation, ms. */
const BASELINE_AR = 0.9;
const BASELINE_SD_MS = 15;
/** The shortest interval the model ever produces, ms (AV-node refractoriness, afdb 5th percentile of the minimum ≈ 230 ms). */
const MIN_RR_MS = 250;

/** Parameters of one AF episode. */
export interface AfRrParams {
  /** Mean heart rate, bpm (60–110). */
  meanHrBpm: number;
  /** Mean of the exponential part (1/γ), ms. */
  tailMeanMs: number;
}

/** Draws the parameters of one episode: HR from {@link AF_HR_RANGE_BPM}, 1/γ from {@link AF_TAIL_MEAN_RANGE_MS}. */
export function randomAfParams(random: RandomSource, meanHrBpm?: number): AfRrParams {
  return {
    meanHrBpm: meanHrBpm ?? uniform(random, AF_HR_RANGE_BPM[0], AF_HR_RANGE_BPM[1]),
    tailMeanMs: uniform(random, AF_TAIL_MEAN_RANGE_MS[0], AF_TAIL_MEAN_RANGE_MS[1]),
  };
}

/** Exponential deviate with mean `meanMs`, truncated to [lo, hi] (inverse CDF). */
function truncatedExponential(random: RandomSource, meanMs: number, lo: number, hi: number): number {
  if (!(hi > lo)) return Math.max(0, lo);
  const span = 1 - Math.exp(-(hi - lo) / meanMs);
  return lo - meanMs * Math.log(1 - random() * span);
}

/** A stream of AF RR intervals (integer ms) for one episode. */
export class AfRrModel {
  readonly params: AfRrParams;
  readonly #random: RandomSource;
  #baselineNoiseMs = 0;
  /** The last few intervals, for the run guards. */
  readonly #recent: number[] = [];

  constructor(random: RandomSource, params: AfRrParams) {
    this.#random = random;
    this.params = params;
  }

  /** The next RR interval, ms. */
  next(): number {
    const { meanHrBpm, tailMeanMs } = this.params;
    this.#baselineNoiseMs = BASELINE_AR * this.#baselineNoiseMs + Math.sqrt(1 - BASELINE_AR ** 2) * BASELINE_SD_MS * gaussian(this.#random);
    const c = Math.max(MIN_RR_MS, 60_000 / meanHrBpm - tailMeanMs + this.#baselineNoiseMs);
    const guardBeats = Math.min(TACHY.consecutiveBeats, BRADY.consecutiveBeats) - 1;
    const last = this.#recent.slice(-guardBeats);
    const full = last.length === guardBeats;
    let lo = 0;
    let hi = PAUSE_MIN_RR_MS - 1 - c;
    if (full && last.every((rr) => rr < TACHY_RR_MS)) lo = TACHY_RR_MS - c;
    if (full && last.every((rr) => rr > BRADY_RR_MS)) hi = Math.min(hi, BRADY_RR_MS - c);
    const rr = Math.round(c + truncatedExponential(this.#random, tailMeanMs, Math.max(0, lo), hi));
    this.#recent.push(rr);
    if (this.#recent.length > guardBeats) this.#recent.shift();
    return rr;
  }
}
