/**
 * Bradycardia limit alarm (medium priority): HR < 50 bpm for 5 consecutive beats, ending once
 * HR ≥ 55 bpm for 5 consecutive beats (final after the off-delay below).
 *
 * Sources (fhir-and-alarms.md §5): the low limit is patient-adjustable; 50 bpm is our default
 * (the AHA 2017 monitoring statement gives no number, ZOLL ships 30 bpm, so no default is
 * authoritative). The consecutive-beat rule mirrors the PhysioNet/CinC 2015 extreme-bradycardia
 * definition (5 consecutive beats) and EDAN's adult tachycardia rule (5 consecutive beats), so
 * isolated long RR intervals (a blocked or post-ectopic beat) do not alarm. The 5 bpm / 5 beat
 * hysteresis is our design choice against flapping at the limit (not from a standard).
 * HR < 50 bpm ⟺ RR > 1200 ms; recovered: HR ≥ 55 bpm ⟺ RR ≤ 1090.9 ms.
 *
 * Alarm delay against nuisance alarms (issue 12, the default): the run must last 120 s, or 30 s when it
 * starts suddenly (its first intervals ≥ 25 % longer than the 8 before it, i.e. the rate
 * dropped by ≥ 20 % from one beat to the next — a block, not the slow drift of sleep). Healthy
 * sleep bradycardia drifts below 50 bpm for seconds to minutes and is not actionable (ISHNE-HRS
 * 2017 ambulatory consensus, Steinberg et al., on nocturnal bradycardia in healthy subjects);
 * alarm delays for non-lethal conditions and patient-specific limits are the alarm-fatigue
 * measures of the AHA 2017 practice standards (Sandau et al., alarm management section). The
 * lethal conditions keep their own undelayed high-priority detectors: extreme bradycardia (< 40
 * bpm × 5 beats), asystole, pause. Numbers are ours (no standard gives them); clinicians
 * override them per patient (contracts/criteria.ts).
 *
 * Off-delay (session 8): with the delay, the episode's end (still its first recovered beat) is
 * final only after the same 120 s without a relapse — 5 consecutive beats < 50 bpm, which continue
 * the episode instead of opening a new one (`recoveryMs`, limit-rate.ts). A sleeping heart wakes
 * above 55 bpm for a minute and sinks again many times a night, and each return used to be a new
 * alarm 30 s or 2 min later; on- and off-delays are the alarm-management remedy for such
 * chattering alarms (ANSI/ISA-18.2 and its basic-alarm-design report ISA-TR18.2.3: deadband,
 * on-delay, off-delay). Equal to the on-delay, not fitted: `node eval/rate-stress.ts`.
 */
import { LimitRateDetector, type LimitRateParams } from './limit-rate.ts';

/**
 * Production defaults (since issue 12): the consecutive-beat rule, then the alarm delay of 2 min,
 * 30 s after a sudden onset (file comment). `npm run eval`: nsr2db limit alarms 9.5 → 0 per day.
 */
export const BRADY_DEFAULTS: LimitRateParams = { limitBpm: 50, consecutiveBeats: 5, hysteresisBpm: 5, recoveryBeats: 5, recoveryMs: 120_000, sustainMs: 120_000, suddenChange: 0.2, suddenSustainMs: 30_000 };

/**
 * The consecutive-beat rule alone, without the alarm delay (the default before issue 12; what a
 * clinician gets with `brady.sustainMs: 0`): the "before" of the nuisance-alarm evaluation.
 */
export const BRADY_IMMEDIATE: LimitRateParams = { ...BRADY_DEFAULTS, sustainMs: 0, recoveryMs: 0, suddenChange: 0, suddenSustainMs: 0 };

/** Factory with the documented defaults; every parameter is patient-adjustable. */
export function createBradyDetector(params: Partial<LimitRateParams> = {}): LimitRateDetector {
  const p = { ...BRADY_DEFAULTS, ...params };
  return new LimitRateDetector({
    kind: 'brady',
    direction: 'below',
    params: p,
    criterion: `HR < ${p.limitBpm} bpm for ${p.consecutiveBeats} consecutive beats; ends at HR ≥ ${p.limitBpm + p.hysteresisBpm} bpm for ${p.recoveryBeats} beats${p.recoveryMs > 0 ? `, final after ${p.recoveryMs / 1000} s without ${p.consecutiveBeats} beats < ${p.limitBpm} bpm again` : ''} (limit alarm); sustained ${p.sustainMs / 1000} s${p.suddenChange > 0 ? `, ${Math.min(p.sustainMs, p.suddenSustainMs) / 1000} s after a sudden onset` : ''}`,
  });
}
