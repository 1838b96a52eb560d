/**
 * Which default alarm criteria (alarm-criteria.ts) a short list of generated beats meets, and
 * from when: a batch scan written from the published definitions, used by the ground truth to
 * state the onset and criterion time of an episode and the other alarms its beats also raise
 * (an extreme tachycardia lasting past the tachycardia's alarm delay is also a tachycardia; a VT
 * run at 150 bpm as long is too). An asystole is no pause: one alarm per silence (issue 12). Only the first occurrence per criterion is reported: one
 * episode, one alarm of each kind.
 */
import type { AlertKind } from '../contracts/alert.ts';
import {
  ASYSTOLE_MIN_GAP_MS, BRADY, BRADY_RR_MS, EXTREME_BRADY, EXTREME_BRADY_RR_MS, EXTREME_TACHY, EXTREME_TACHY_RR_MS,
  nextPrevailingRrMs, PAUSE_MIN_RR_MS, SUDDEN_ONSET, TACHY, TACHY_RR_MS, VT,
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

interface RateCriterion {
  kind: AlertKind;
  beats: number;
  qualifies: (rrMs: number) => boolean;
  /** Limit alarms (issue 12): the run must also span `sustainMs`, or `suddenSustainMs` after a sudden onset. */
  delay?: { sustainMs: number; suddenSustainMs: number; sudden: (runRrMs: number, beforeRrMs: number) => boolean };
}

const RATE_CRITERIA: readonly RateCriterion[] = [
  { kind: 'extreme_brady', beats: EXTREME_BRADY.consecutiveBeats, qualifies: (rr) => rr > EXTREME_BRADY_RR_MS },
  {
    kind: 'brady', beats: BRADY.consecutiveBeats, qualifies: (rr) => rr > BRADY_RR_MS,
    delay: { sustainMs: BRADY.sustainMs, suddenSustainMs: BRADY.suddenSustainMs, sudden: (run, before) => run >= before / (1 - SUDDEN_ONSET.change) },
  },
  { kind: 'extreme_tachy', beats: EXTREME_TACHY.consecutiveBeats, qualifies: (rr) => rr < EXTREME_TACHY_RR_MS },
  {
    kind: 'tachy', beats: TACHY.consecutiveBeats, qualifies: (rr) => rr < TACHY_RR_MS,
    delay: { sustainMs: TACHY.sustainMs, suddenSustainMs: TACHY.suddenSustainMs, sudden: (run, before) => run <= (1 - SUDDEN_ONSET.change) * before },
  },
];

/**
 * First hit of one rate criterion; `beforeRrMs`: the intervals just before `beats[0]`, oldest
 * first; `prevailingRrMs`: the prevailing interval up to `beats[0]` (NaN: unknown).
 */
function scanRate(c: RateCriterion, beats: readonly TimedBeat[], beforeRrMs: readonly number[], prevailingRrMs: number): CriterionHit | undefined {
  const rr = (i: number) => beats[i]!.tMs - beats[i - 1]!.tMs;
  // The consecutive intervals inside the limit just before a run: a qualifying interval, even
  // one of a run too short to count, starts the reference afresh.
  const lastQualifying = beforeRrMs.findLastIndex((x) => c.qualifies(x));
  const inside = beforeRrMs.slice(lastQualifying + 1).slice(-SUDDEN_ONSET.beforeIntervals);
  let run: { first: number; count: number; sumMs: number; prevailingRrMs: number; sudden?: boolean } | undefined;
  let prevailing = prevailingRrMs;
  for (let i = 1; i < beats.length; i++) {
    const prevailingBefore = prevailing;
    prevailing = nextPrevailingRrMs(prevailing, rr(i));
    if (!c.qualifies(rr(i))) {
      if (run) inside.length = 0;
      run = undefined;
      inside.push(rr(i));
      if (inside.length > SUDDEN_ONSET.beforeIntervals) inside.shift();
      continue;
    }
    run ??= { first: i, count: 0, sumMs: 0, prevailingRrMs: prevailingBefore };
    run.count++;
    if (run.count <= c.beats) run.sumMs += rr(i);
    if (run.count < c.beats) continue;
    let sustainMs = 0;
    if (c.delay) {
      const runRrMs = run.sumMs / c.beats;
      // Sudden against the 8 intervals before the run and against the prevailing interval (when known).
      run.sudden ??= inside.length >= SUDDEN_ONSET.beforeIntervals && c.delay.sudden(runRrMs, inside.reduce((a, b) => a + b, 0) / inside.length) && (Number.isNaN(run.prevailingRrMs) || c.delay.sudden(runRrMs, run.prevailingRrMs));
      sustainMs = run.sudden ? Math.min(c.delay.sustainMs, c.delay.suddenSustainMs) : c.delay.sustainMs;
    }
    if (beats[i]!.tMs - beats[run.first]!.tMs >= sustainMs) return { kind: c.kind, onsetMs: beats[run.first]!.tMs, criterionMs: beats[i]!.tMs };
  }
  return undefined;
}

/**
 * Scans beats in time order; `beats[0]` only gives the first interval (its own RR is unknown).
 * Silences start at the beat before them; an asystole is met once it has lasted its threshold, a
 * pause (3 s up to the asystole's 4 s) at the beat ending it; rate criteria need N consecutive qualifying intervals; VT needs `VT.minBeats`
 * consecutive ventricular beats whose V-to-V intervals average above `VT.hrAboveBpm` (all but `VT.maxSlowIntervals` of them above it too). The limit
 * alarms (brady, tachy) are met once their run has also lasted the alarm delay, measured from the
 * run's first beat; whether the run started suddenly compares it with the intervals before it,
 * which `beforeRrMs` and `prevailingRrMs` (the prevailing interval up to `beats[0]`) supply for
 * the run that starts the list (alarm-criteria.ts SUDDEN_ONSET).
 */
export function scanCriteria(beats: readonly TimedBeat[], beforeRrMs: readonly number[] = [], prevailingRrMs = Number.NaN): CriterionHit[] {
  const hits: CriterionHit[] = [];
  const rr = (i: number) => beats[i]!.tMs - beats[i - 1]!.tMs;
  for (let i = 1; i < beats.length; i++) {
    if (rr(i) >= ASYSTOLE_MIN_GAP_MS) {
      hits.push({ kind: 'asystole', onsetMs: beats[i - 1]!.tMs, criterionMs: beats[i - 1]!.tMs + ASYSTOLE_MIN_GAP_MS });
      break;
    }
  }
  // A pause is a silence that ends short of the asystole (one alarm per silence, the higher
  // priority wins: issue 12); it is known, and met, at the beat that ends it.
  for (let i = 1; i < beats.length; i++) {
    if (rr(i) >= PAUSE_MIN_RR_MS && rr(i) < ASYSTOLE_MIN_GAP_MS) {
      hits.push({ kind: 'pause', onsetMs: beats[i - 1]!.tMs, criterionMs: beats[i]!.tMs });
      break;
    }
  }
  for (const c of RATE_CRITERIA) {
    const hit = scanRate(c, beats, beforeRrMs, prevailingRrMs);
    if (hit) hits.push(hit);
  }
  let vRun = 0;
  for (let i = 0; i < beats.length; i++) {
    vRun = beats[i]!.cls === 'V' ? vRun + 1 : 0;
    if (vRun < VT.minBeats) continue;
    const first = i - VT.minBeats + 1;
    const meanRrMs = (beats[i]!.tMs - beats[first]!.tMs) / (VT.minBeats - 1);
    let slow = 0;
    for (let k = first + 1; k <= i; k++) if (rr(k) >= 60_000 / VT.hrAboveBpm) slow++;
    if (meanRrMs < 60_000 / VT.hrAboveBpm && slow <= VT.maxSlowIntervals) {
      hits.push({ kind: 'vt', onsetMs: beats[first]!.tMs, criterionMs: beats[i]!.tMs });
      break;
    }
  }
  return hits.sort((a, b) => a.onsetMs - b.onsetMs);
}
