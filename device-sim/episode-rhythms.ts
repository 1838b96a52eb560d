/**
 * The beats of rate and ventricular episodes: heart-rate ranges and RR bounds per kind, chosen
 * so each episode meets its own alarm criterion and no other one it should not (thresholds in
 * alarm-criteria.ts, from fhir-and-alarms.md §5):
 *
 * | kind          | default HR  | RR bounds (ms) | must stay                 | so it never raises      |
 * |---------------|-------------|----------------|---------------------------|-------------------------|
 * | extreme_brady | 30–36       | 1650–2000      | RR > 1500 (HR < 40)       | pause (RR < 3000)       |
 * | brady         | 42–48       | 1250–1428      | 1200 < RR < 1500          | extreme_brady           |
 * | tachy         | 125–135     | 445–480        | 428.6 < RR < 500          | extreme_tachy (> 140)   |
 * | extreme_tachy | 160–180     | 333–375        | RR < 428.6 (HR > 140)     |                         |
 * | vt, nsvt      | 150–200     | ±2 % of mean   | V-V RR < 600 (HR > 100)   |                         |
 *
 * Unavoidable overlaps, stated in the ground truth as implied alarms: an extreme brady is also a
 * brady (< 50 bpm), an extreme tachy also a tachy (> 120 bpm), a VT run of ≥ 5 beats at ≥ 150 bpm
 * also a tachy, and ≥ 17 such beats also an extreme tachy.
 *
 * Beat-to-beat jitter: 2 % around the episode's mean (a regular ectopic or escape rhythm),
 * clamped to the bounds. With an explicit rate the bounds are ±5 % around it, still clamped to
 * the kind's limits.
 */
import { BRADY_RR_MS, EXTREME_BRADY_RR_MS, EXTREME_TACHY_RR_MS, TACHY_RR_MS, VT } from './alarm-criteria.ts';
import { gaussian, type RandomSource } from './prng.ts';
import { NORMAL_RR_BOUNDS_MS } from './rhythm.ts';

export type RateEpisodeKind = 'extreme_brady' | 'brady' | 'tachy' | 'extreme_tachy';

export interface RateEpisodeSpec {
  /** Default mean heart rate range, bpm (drawn per occurrence). */
  hrRangeBpm: readonly [number, number];
  /** RR bounds of the default rate, ms. */
  rrBoundsMs: readonly [number, number];
  /** RR always kept within these, ms (the kind's side of its threshold, clear of the next one). */
  rrLimitsMs: readonly [number, number];
  /** Explicit `hrBpm` must lie strictly between these, bpm (`maxInclusive`: up to and including max). */
  hrAllowedBpm: { min: number; max: number; minInclusive?: boolean; maxInclusive?: boolean };
  /** Consecutive beats the alarm criterion needs. */
  criterionBeats: number;
}

export const RATE_EPISODES: Readonly<Record<RateEpisodeKind, RateEpisodeSpec>> = {
  extreme_brady: { hrRangeBpm: [30, 36], rrBoundsMs: [1650, 2000], rrLimitsMs: [EXTREME_BRADY_RR_MS + 1, Infinity], hrAllowedBpm: { min: 20, max: 40, minInclusive: true }, criterionBeats: 5 },
  brady: { hrRangeBpm: [42, 48], rrBoundsMs: [1250, 1428], rrLimitsMs: [BRADY_RR_MS + 1, EXTREME_BRADY_RR_MS - 1], hrAllowedBpm: { min: 40, max: 50 }, criterionBeats: 5 },
  tachy: { hrRangeBpm: [125, 135], rrBoundsMs: [445, 480], rrLimitsMs: [Math.ceil(EXTREME_TACHY_RR_MS), TACHY_RR_MS - 1], hrAllowedBpm: { min: 120, max: 140 }, criterionBeats: 5 },
  extreme_tachy: { hrRangeBpm: [160, 180], rrBoundsMs: [333, 375], rrLimitsMs: [0, Math.floor(EXTREME_TACHY_RR_MS)], hrAllowedBpm: { min: 140, max: 250, maxInclusive: true }, criterionBeats: 17 },
};

export const isRateEpisodeKind = (kind: string): kind is RateEpisodeKind => Object.hasOwn(RATE_EPISODES, kind);

/** Default rate of VT runs and NSVT distractors, bpm; allowed explicit rates: above 100 up to 250. */
export const VENTRICULAR_HR_RANGE_BPM: readonly [number, number] = [150, 200];
export const VENTRICULAR_HR_ALLOWED_BPM = { min: VT.hrAboveBpm, max: 250 } as const;
/** Longest V-V interval of a run: stays on the VT side of HR > 100 bpm, ms. */
const VENTRICULAR_MAX_RR_MS = Math.ceil(60_000 / VT.hrAboveBpm) - 1;

/** One interval of a rate episode whose mean RR was drawn for the occurrence. */
export function rateEpisodeRrMs(kind: RateEpisodeKind, meanRrMs: number, explicitRate: boolean, random: RandomSource): number {
  const spec = RATE_EPISODES[kind];
  const rr = meanRrMs * (1 + 0.02 * gaussian(random));
  let [lo, hi] = explicitRate ? [meanRrMs * 0.95, meanRrMs * 1.05] : spec.rrBoundsMs;
  lo = Math.max(lo, spec.rrLimitsMs[0]);
  hi = Math.min(hi, spec.rrLimitsMs[1]);
  return Math.round(Math.min(hi, Math.max(lo, rr)));
}

/** One V-V interval (and the coupling interval of the first V beat) of a run. */
export function ventricularRrMs(meanRrMs: number, random: RandomSource): number {
  return Math.round(Math.min(VENTRICULAR_MAX_RR_MS, meanRrMs * (1 + 0.02 * gaussian(random))));
}

/**
 * The interval from the last V beat back to sinus rhythm: the next sinus interval lengthened by
 * a quarter of the mean RR (a post-ectopic pause), within the normal RR bounds — so the run's
 * fast intervals end there (≥ 500 ms) and no bradycardia or pause arises (≤ 1200 ms).
 */
export function postEctopicRrMs(sinusRrMs: number, meanSinusRrMs: number): number {
  return Math.round(Math.min(NORMAL_RR_BOUNDS_MS.max, Math.max(NORMAL_RR_BOUNDS_MS.min, sinusRrMs + meanSinusRrMs / 4)));
}
