/**
 * Tachycardia limit alarm (medium priority): HR > 120 bpm for 5 consecutive beats, ending once
 * HR ≤ 115 bpm for 5 consecutive beats.
 *
 * Source (fhir-and-alarms.md §5): EDAN Elite V6 adult "Tachy" = RR < 0.5 s for 5 consecutive
 * beats (≈ HR > 120 bpm); the limit is configurable (vendors 120–150, ZOLL default 150). A
 * consecutive-beat rule rather than an average, so a single premature beat (short RR) cannot
 * start it. The 5 bpm / 5 beat hysteresis is our design choice against flapping at the limit.
 * HR > 120 bpm ⟺ RR < 500 ms; recovered: HR ≤ 115 bpm ⟺ RR ≥ 521.7 ms.
 *
 * Alarm delay against nuisance alarms (issue 12, the default): the run must last 5 min, or 30 s when it
 * starts suddenly (its first intervals ≥ 20 % shorter than the 8 before it — the "sudden onset"
 * discriminator of implantable defibrillators, which separates re-entrant tachycardias from the
 * gradual sinus tachycardia of exertion). Exertional sinus tachycardia in an ambulatory patient
 * is not actionable; delays for non-lethal alarms follow the AHA 2017 practice standards'
 * alarm-management recommendations (Sandau et al.). Extreme tachycardia (> 140 bpm × 17 beats),
 * VT and AF keep their own undelayed detectors. Numbers are ours; clinicians override them per
 * patient (contracts/criteria.ts).
 */
import { LimitRateDetector, type LimitRateParams } from './limit-rate.ts';

/**
 * Production defaults (since issue 12): consecutive beats, then 5 min, or 30 s after a sudden onset
 * (file comment). No off-delay (brady.ts has one): with the 5 min delay no record here raises a
 * tachy nuisance alarm, so there is nothing to choose or measure one on.
 */
export const TACHY_DEFAULTS: LimitRateParams = { limitBpm: 120, consecutiveBeats: 5, hysteresisBpm: 5, recoveryBeats: 5, recoveryMs: 0, sustainMs: 300_000, suddenChange: 0.2, suddenSustainMs: 30_000 };

/** The consecutive-beat rule alone (before issue 12; `tachy.sustainMs: 0`), see brady.ts BRADY_IMMEDIATE. */
export const TACHY_IMMEDIATE: LimitRateParams = { ...TACHY_DEFAULTS, sustainMs: 0, recoveryMs: 0, suddenChange: 0, suddenSustainMs: 0 };

/** Factory with the documented defaults; every parameter is patient-adjustable. */
export function createTachyDetector(params: Partial<LimitRateParams> = {}): LimitRateDetector {
  const p = { ...TACHY_DEFAULTS, ...params };
  return new LimitRateDetector({
    kind: 'tachy',
    direction: 'above',
    params: p,
    criterion: `HR > ${p.limitBpm} bpm for ${p.consecutiveBeats} consecutive beats (EDAN: RR < 0.5 s × 5); ends at HR ≤ ${p.limitBpm - p.hysteresisBpm} bpm for ${p.recoveryBeats} beats${p.recoveryMs > 0 ? `, final after ${p.recoveryMs / 1000} s without ${p.consecutiveBeats} beats > ${p.limitBpm} bpm again` : ''} (limit alarm); sustained ${p.sustainMs / 1000} s${p.suddenChange > 0 ? `, ${Math.min(p.sustainMs, p.suddenSustainMs) / 1000} s after a sudden onset` : ''}`,
  });
}
