/**
 * Bradycardia limit alarm (medium priority): HR < 50 bpm for 5 consecutive beats, ending once
 * HR ≥ 55 bpm for 5 consecutive beats.
 *
 * Sources (fhir-and-alarms.md §5): the low limit is patient-adjustable; 50 bpm is our default
 * (the AHA 2017 monitoring statement gives no number, ZOLL ships 30 bpm, so no default is
 * authoritative). The consecutive-beat rule mirrors the PhysioNet/CinC 2015 extreme-bradycardia
 * definition (5 consecutive beats) and EDAN's adult tachycardia rule (5 consecutive beats), so
 * isolated long RR intervals (a blocked or post-ectopic beat) do not alarm. The 5 bpm / 5 beat
 * hysteresis is our design choice against flapping at the limit (not from a standard).
 * HR < 50 bpm ⟺ RR > 1200 ms; recovered: HR ≥ 55 bpm ⟺ RR ≤ 1090.9 ms.
 */
import { LimitRateDetector, type LimitRateParams } from './limit-rate.ts';

export const BRADY_DEFAULTS: LimitRateParams = { limitBpm: 50, consecutiveBeats: 5, hysteresisBpm: 5, recoveryBeats: 5 };

/** Factory with the documented defaults; every parameter is patient-adjustable. */
export function createBradyDetector(params: Partial<LimitRateParams> = {}): LimitRateDetector {
  const p = { ...BRADY_DEFAULTS, ...params };
  return new LimitRateDetector({
    kind: 'brady',
    direction: 'below',
    params: p,
    criterion: `HR < ${p.limitBpm} bpm for ${p.consecutiveBeats} consecutive beats; ends at HR ≥ ${p.limitBpm + p.hysteresisBpm} bpm for ${p.recoveryBeats} beats (limit alarm)`,
  });
}
