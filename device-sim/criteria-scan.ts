/**
 * Which default alarm criteria (alarm-criteria.ts) a short list of generated beats meets, and
 * from when: a batch scan written from the published definitions, used by the ground truth to
 * state the onset and criterion time of an episode and the other alarms its beats also raise
 * (an extreme tachycardia is also a tachycardia; an asystole is also a pause; a VT run at
 * 150 bpm is also a tachycardia). Only the first occurrence per criterion is reported: one
 * episode, one alarm of each kind.
 */
import type { AlertKind } from '../contracts/alert.ts';
import {
  ASYSTOLE_MIN_GAP_MS, BRADY, BRADY_RR_MS, EXTREME_BRADY, EXTREME_BRADY_RR_MS, EXTREME_TACHY, EXTREME_TACHY_RR_MS,
  PAUSE_MIN_RR_MS, TACHY, TACHY_RR_MS, VT,
} from './alarm-criteria.ts';
import type { TimedBeat } from './frames.ts';

/** A criterion met by the beats. */
export interface CriterionHit {
  kind: AlertKind;
  /** Device time of the episode onset as the alarm defines it (first beat of the run, or the beat before a silence), ms. */
  onsetMs: number;
  /** Device time at which the criterion was first met (the run's Nth beat, or onset + the silence threshold), ms. */
  criterionMs: number;
}

const RATE_CRITERIA: ReadonlyArray<{ kind: AlertKind; beats: number; qualifies: (rrMs: number) => boolean }> = [
  { kind: 'extreme_brady', beats: EXTREME_BRADY.consecutiveBeats, qualifies: (rr) => rr > EXTREME_BRADY_RR_MS },
  { kind: 'brady', beats: BRADY.consecutiveBeats, qualifies: (rr) => rr > BRADY_RR_MS },
  { kind: 'extreme_tachy', beats: EXTREME_TACHY.consecutiveBeats, qualifies: (rr) => rr < EXTREME_TACHY_RR_MS },
  { kind: 'tachy', beats: TACHY.consecutiveBeats, qualifies: (rr) => rr < TACHY_RR_MS },
];

/**
 * Scans beats in time order; `beats[0]` only gives the first interval (its own RR is unknown).
 * Silences (asystole, pause) start at the beat before them and are met once they have lasted
 * the threshold; rate criteria need N consecutive qualifying intervals; VT needs `VT.minBeats`
 * consecutive ventricular beats whose V-to-V intervals average above `VT.hrAboveBpm`.
 */
export function scanCriteria(beats: readonly TimedBeat[]): CriterionHit[] {
  const hits: CriterionHit[] = [];
  const rr = (i: number) => beats[i]!.tMs - beats[i - 1]!.tMs;
  for (const [kind, minMs] of [['asystole', ASYSTOLE_MIN_GAP_MS], ['pause', PAUSE_MIN_RR_MS]] as const) {
    for (let i = 1; i < beats.length; i++) {
      if (rr(i) >= minMs) {
        hits.push({ kind, onsetMs: beats[i - 1]!.tMs, criterionMs: beats[i - 1]!.tMs + minMs });
        break;
      }
    }
  }
  for (const c of RATE_CRITERIA) {
    let run = 0;
    for (let i = 1; i < beats.length; i++) {
      run = c.qualifies(rr(i)) ? run + 1 : 0;
      if (run === c.beats) {
        hits.push({ kind: c.kind, onsetMs: beats[i - c.beats + 1]!.tMs, criterionMs: beats[i]!.tMs });
        break;
      }
    }
  }
  let vRun = 0;
  for (let i = 0; i < beats.length; i++) {
    vRun = beats[i]!.cls === 'V' ? vRun + 1 : 0;
    if (vRun < VT.minBeats) continue;
    const first = i - VT.minBeats + 1;
    const meanRrMs = (beats[i]!.tMs - beats[first]!.tMs) / (VT.minBeats - 1);
    if (meanRrMs < 60_000 / VT.hrAboveBpm) {
      hits.push({ kind: 'vt', onsetMs: beats[first]!.tMs, criterionMs: beats[i]!.tMs });
      break;
    }
  }
  return hits.sort((a, b) => a.onsetMs - b.onsetMs);
}
