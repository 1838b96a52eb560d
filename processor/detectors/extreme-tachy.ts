/**
 * Extreme tachycardia: heart rate > 140 bpm for 17 consecutive beats.
 * Source: PhysioNet/CinC Challenge 2015 alarm definitions (fhir-and-alarms.md §5).
 * HR > 140 bpm ⟺ RR < 60000/140 ≈ 428.6 ms.
 */
import { ConsecutiveRateDetector } from './consecutive-rate.ts';

export const EXTREME_TACHY_DEFAULTS = { hrAboveBpm: 140, consecutiveBeats: 17 } as const;

export function createExtremeTachyDetector(params: { hrAboveBpm: number; consecutiveBeats: number } = EXTREME_TACHY_DEFAULTS) {
  const rrBelowMs = 60000 / params.hrAboveBpm;
  return new ConsecutiveRateDetector({
    kind: 'extreme_tachy',
    qualifies: (rrMs) => rrMs < rrBelowMs,
    consecutiveBeats: params.consecutiveBeats,
    criterion: `HR > ${params.hrAboveBpm} bpm for ${params.consecutiveBeats} consecutive beats (PhysioNet/CinC 2015)`,
    thresholds: { hrAboveBpm: params.hrAboveBpm, consecutiveBeats: params.consecutiveBeats },
  });
}
