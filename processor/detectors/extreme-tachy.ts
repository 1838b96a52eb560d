/**
 * Extreme tachycardia: heart rate > 140 bpm for 17 consecutive beats.
 * Source: PhysioNet/CinC Challenge 2015 alarm definitions (fhir-and-alarms.md §5).
 * HR > 140 bpm ⟺ RR < 60000/140 ≈ 428.6 ms.
 *
 * End hysteresis (the afdb 04908 finding, consecutive-rate.ts `RateRecovery`): the episode ends once the
 * monitor's averaged heart rate (12 intervals without the longest and shortest, the averaging a
 * bedside monitor discloses under IEC 60601-2-27) has stayed ≤ 130 bpm (limit − 10) for 30 s; the
 * end reported is the first beat of that stretch. The onset is exactly as without it (same beat).
 * Why: the PhysioNet definition describes the event, not an alarm a nurse lives with; ended at the
 * first slower beat, AF/flutter with a ventricular rate hovering at 135–152/min (afdb 04908) raised
 * a new high-priority alarm every 30 s (16 episodes in 9.5 min). Bedside monitors alarm on the
 * averaged rate, so single beats neither start nor end their rate alarms. 10 bpm is twice the 5 bpm
 * hysteresis of the limit alarms (brady.ts, tachy.ts) for a limit 20 bpm higher, ≈ 7 % of the
 * interval, more than a 12-beat average of AF at the limit wanders (EVALUATION.md §3); 30 s is the
 * product's "sustained" (AF episode ≥ 30 s, ESC 2016; the limit alarms' 30 s after a sudden
 * onset) and > 2.5 × the 11 s within which IEC 60601-2-27 has an averaged rate follow a step
 * (80 → 120 bpm), so one averaging transient cannot end an episode. Numbers are ours (no standard
 * gives an alarm-off hysteresis); per patient `extreme_tachy.hysteresisBpm` 0–20 and
 * `recoveryMs` 0–120 s, where 0 is the PhysioNet rule (the end at the first beat ≤ 140 bpm).
 */
import { createExtremeRateDetector } from './extreme-rate.ts';

export const EXTREME_TACHY_DEFAULTS = { hrAboveBpm: 140, consecutiveBeats: 17, hysteresisBpm: 10, recoveryMs: 30_000 } as const;

export interface ExtremeTachyParams {
  hrAboveBpm: number;
  consecutiveBeats: number;
  /** How far under the limit the averaged rate must come to count as recovered, bpm. */
  hysteresisBpm: number;
  /** How long it must stay there before the episode ends, ms; 0: ends at the first beat ≤ the limit. */
  recoveryMs: number;
}

export function createExtremeTachyDetector(params: Partial<ExtremeTachyParams> = {}) {
  const p = { ...EXTREME_TACHY_DEFAULTS, ...params };
  return createExtremeRateDetector({
    kind: 'extreme_tachy', direction: 'above', limitBpm: p.hrAboveBpm, consecutiveBeats: p.consecutiveBeats, hysteresisBpm: p.hysteresisBpm, recoveryMs: p.recoveryMs,
    thresholds: { hrAboveBpm: p.hrAboveBpm, consecutiveBeats: p.consecutiveBeats },
  });
}
