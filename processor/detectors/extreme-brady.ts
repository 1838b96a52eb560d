/**
 * Extreme bradycardia: heart rate < 40 bpm for 5 consecutive beats.
 * Source: PhysioNet/CinC Challenge 2015 alarm definitions (fhir-and-alarms.md §5).
 * HR < 40 bpm ⟺ RR > 60000/40 = 1500 ms.
 */
import { ConsecutiveRateDetector } from './consecutive-rate.ts';

export const EXTREME_BRADY_DEFAULTS = { hrBelowBpm: 40, consecutiveBeats: 5 } as const;

export function createExtremeBradyDetector(params: { hrBelowBpm: number; consecutiveBeats: number } = EXTREME_BRADY_DEFAULTS) {
  const rrAboveMs = 60000 / params.hrBelowBpm;
  return new ConsecutiveRateDetector({
    kind: 'extreme_brady',
    qualifies: (rrMs) => rrMs > rrAboveMs,
    consecutiveBeats: params.consecutiveBeats,
    criterion: `HR < ${params.hrBelowBpm} bpm for ${params.consecutiveBeats} consecutive beats (PhysioNet/CinC 2015)`,
    thresholds: { hrBelowBpm: params.hrBelowBpm, consecutiveBeats: params.consecutiveBeats },
  });
}
