/**
 * Tachycardia limit alarm (medium priority): HR > 120 bpm for 5 consecutive beats, ending once
 * HR ≤ 115 bpm for 5 consecutive beats.
 *
 * Source (fhir-and-alarms.md §5): EDAN Elite V6 adult "Tachy" = RR < 0.5 s for 5 consecutive
 * beats (≈ HR > 120 bpm); the limit is configurable (vendors 120–150, ZOLL default 150). A
 * consecutive-beat rule rather than an average, so a single premature beat (short RR) cannot
 * start it. The 5 bpm / 5 beat hysteresis is our design choice against flapping at the limit.
 * HR > 120 bpm ⟺ RR < 500 ms; recovered: HR ≤ 115 bpm ⟺ RR ≥ 521.7 ms.
 */
import { LimitRateDetector, type LimitRateParams } from './limit-rate.ts';

export const TACHY_DEFAULTS: LimitRateParams = { limitBpm: 120, consecutiveBeats: 5, hysteresisBpm: 5, recoveryBeats: 5 };

/** Factory with the documented defaults; every parameter is patient-adjustable. */
export function createTachyDetector(params: Partial<LimitRateParams> = {}): LimitRateDetector {
  const p = { ...TACHY_DEFAULTS, ...params };
  return new LimitRateDetector({
    kind: 'tachy',
    direction: 'above',
    params: p,
    criterion: `HR > ${p.limitBpm} bpm for ${p.consecutiveBeats} consecutive beats (EDAN: RR < 0.5 s × 5); ends at HR ≤ ${p.limitBpm - p.hysteresisBpm} bpm for ${p.recoveryBeats} beats (limit alarm)`,
  });
}
