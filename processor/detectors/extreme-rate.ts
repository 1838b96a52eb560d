/**
 * What extreme bradycardia and extreme tachycardia share (extreme-brady.ts, extreme-tachy.ts): a
 * PhysioNet/CinC 2015 onset of N consecutive beats beyond a limit, and the end hysteresis on the
 * monitor's averaged rate (consecutive-rate.ts `RateRecovery`). One factory, so the two alarms'
 * criterion texts and end rules cannot drift apart; each file keeps its numbers and their sources.
 */
import type { AlertKind } from '../../contracts/alert.ts';
import { ConsecutiveRateDetector } from './consecutive-rate.ts';

export interface ExtremeRateSpec {
  kind: AlertKind;
  /** `above`: HR > the limit (tachycardia); `below`: HR < the limit (bradycardia). */
  direction: 'above' | 'below';
  limitBpm: number;
  consecutiveBeats: number;
  /** How far back inside the limit the averaged rate must come to count as recovered, bpm. */
  hysteresisBpm: number;
  /** How long it must stay there before the episode ends, ms; 0: ends at the first beat back inside the limit. */
  recoveryMs: number;
  /** The onset's numbers under the per-patient criteria's names (the evidence's thresholds). */
  thresholds: Record<string, number>;
}

export function createExtremeRateDetector(s: ExtremeRateSpec): ConsecutiveRateDetector {
  // HR > limit ⟺ RR < 60000 / limit (and the other way round for HR < limit).
  const limitRrMs = 60000 / s.limitBpm;
  const above = s.direction === 'above';
  const onset = `HR ${above ? '>' : '<'} ${s.limitBpm} bpm for ${s.consecutiveBeats} consecutive beats (PhysioNet/CinC 2015)`;
  const recoveredBpm = above ? s.limitBpm - s.hysteresisBpm : s.limitBpm + s.hysteresisBpm;
  return new ConsecutiveRateDetector({
    kind: s.kind,
    qualifies: above ? (rrMs) => rrMs < limitRrMs : (rrMs) => rrMs > limitRrMs,
    consecutiveBeats: s.consecutiveBeats,
    criterion: s.recoveryMs > 0 ? `${onset}; ends once the averaged HR ${above ? '≤' : '≥'} ${recoveredBpm} bpm for ${s.recoveryMs / 1000} s` : onset,
    thresholds: s.thresholds,
    ...(s.recoveryMs > 0 ? { recovery: { direction: s.direction, limitBpm: s.limitBpm, hysteresisBpm: s.hysteresisBpm, recoveryMs: s.recoveryMs } } : {}),
  });
}
