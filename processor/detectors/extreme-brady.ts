/**
 * Extreme bradycardia: heart rate < 40 bpm for 5 consecutive beats.
 * Source: PhysioNet/CinC Challenge 2015 alarm definitions (fhir-and-alarms.md §5).
 * HR < 40 bpm ⟺ RR > 60000/40 = 1500 ms.
 *
 * End hysteresis as extreme-tachy.ts (the afdb 04908 finding, consecutive-rate.ts `RateRecovery`): the
 * episode ends once the monitor's averaged heart rate (at these rates the mean of the last 4
 * intervals, IEC 60601-2-27 averaging) has stayed ≥ 45 bpm (limit + 5, the brady limit alarm's
 * hysteresis: ≈ 11 % of the interval at 40 bpm, as the 10 bpm ≈ 7 % at 140) for 30 s; the end
 * reported is the first beat of that stretch. The onset is exactly as without it. Per patient
 * `extreme_brady.hysteresisBpm` 0–20 and `recoveryMs` 0–120 s (0: ends at the first beat ≥ 40 bpm,
 * the PhysioNet rule).
 */
import { createExtremeRateDetector } from './extreme-rate.ts';

export const EXTREME_BRADY_DEFAULTS = { hrBelowBpm: 40, consecutiveBeats: 5, hysteresisBpm: 5, recoveryMs: 30_000 } as const;

export interface ExtremeBradyParams {
  hrBelowBpm: number;
  consecutiveBeats: number;
  /** How far above the limit the averaged rate must come to count as recovered, bpm. */
  hysteresisBpm: number;
  /** How long it must stay there before the episode ends, ms; 0: ends at the first beat ≥ the limit. */
  recoveryMs: number;
}

export function createExtremeBradyDetector(params: Partial<ExtremeBradyParams> = {}) {
  const p = { ...EXTREME_BRADY_DEFAULTS, ...params };
  return createExtremeRateDetector({
    kind: 'extreme_brady', direction: 'below', limitBpm: p.hrBelowBpm, consecutiveBeats: p.consecutiveBeats, hysteresisBpm: p.hysteresisBpm, recoveryMs: p.recoveryMs,
    thresholds: { hrBelowBpm: p.hrBelowBpm, consecutiveBeats: p.consecutiveBeats },
  });
}
