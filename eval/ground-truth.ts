/**
 * Ground truth for the threshold alarms, computed offline from a record's reference beats with
 * the criteria of fhir-and-alarms.md §5 (the same numbers the detectors are configured with).
 * This is a batch scan over the whole annotation list, written from the definitions, not from
 * the streaming detectors: agreement between the two shows that framing, RR bookkeeping and the
 * streaming state machines reproduce the criterion on real data.
 *
 * Episode extents follow the alert semantics: a silence runs from the beat before it to the beat
 * ending it; a run of qualifying beats runs from its first beat to the first beat that no longer
 * qualifies (or the record end).
 */
import type { AlertKind } from '../contracts/alert.ts';
import { ASYSTOLE_DEFAULTS } from '../processor/detectors/asystole.ts';
import { BRADY_DEFAULTS } from '../processor/detectors/brady.ts';
import { EXTREME_BRADY_DEFAULTS } from '../processor/detectors/extreme-brady.ts';
import { EXTREME_TACHY_DEFAULTS } from '../processor/detectors/extreme-tachy.ts';
import { PAUSE_DEFAULTS } from '../processor/detectors/pause.ts';
import { TACHY_DEFAULTS } from '../processor/detectors/tachy.ts';
import { nextPrevailingRrMs, type LimitRateParams } from '../processor/detectors/limit-rate.ts';
import { isVtRate, VT_DEFAULTS } from '../processor/detectors/vt.ts';
import type { Interval } from './epicmp.ts';
import type { ReferenceBeat, ReferenceRecord } from './records.ts';

/** Kinds whose truth is computable from beat annotations alone. */
export const THRESHOLD_KINDS = ['asystole', 'pause', 'extreme_brady', 'brady', 'extreme_tachy', 'tachy', 'vt'] as const satisfies readonly AlertKind[];
export type ThresholdKind = (typeof THRESHOLD_KINDS)[number];

/** Silences of at least `minGapMs` between consecutive reference beats. */
export function silences(beats: readonly ReferenceBeat[], minGapMs: number): Interval[] {
  const out: Interval[] = [];
  for (let i = 1; i < beats.length; i++) {
    const a = beats[i - 1]!.timeMs;
    const b = beats[i]!.timeMs;
    if (b - a >= minGapMs) out.push({ startMs: a, endMs: b });
  }
  return out;
}

/**
 * Maximal runs of ≥ `minBeats` consecutive beats whose RR (to the previous beat) satisfies
 * `qualifies`; each runs to the first non-qualifying beat.
 */
export function rateRuns(beats: readonly ReferenceBeat[], durationMs: number, minBeats: number, qualifies: (rrMs: number) => boolean): Interval[] {
  const out: Interval[] = [];
  let runStart = -1;
  let runLength = 0;
  for (let i = 1; i <= beats.length; i++) {
    const ok = i < beats.length && qualifies(beats[i]!.timeMs - beats[i - 1]!.timeMs);
    if (ok) {
      if (runLength === 0) runStart = i;
      runLength++;
      continue;
    }
    if (runLength >= minBeats) out.push({ startMs: beats[runStart]!.timeMs, endMs: i < beats.length ? beats[i]!.timeMs : durationMs });
    runLength = 0;
  }
  return out;
}

/**
 * The limit alarms' episodes (brady, tachy): runs of ≥ `consecutiveBeats` qualifying beats
 * whose qualifying beats span at least the sustain time — the shorter sudden-onset one when the
 * run's first `consecutiveBeats` intervals average ≥ `suddenChange` shorter (above) / longer
 * (below) than the 8 non-qualifying intervals right before it, with no qualifying one among them,
 * and than the prevailing interval before it (processor/detectors/limit-rate.ts `nextPrevailingRrMs`).
 */
export function sustainedRuns(beats: readonly ReferenceBeat[], durationMs: number, p: LimitRateParams, direction: 'above' | 'below'): Interval[] {
  const limitRrMs = 60000 / p.limitBpm;
  const qualifies = (rr: number) => (direction === 'above' ? rr < limitRrMs : rr > limitRrMs);
  const out: Interval[] = [];
  const before: number[] = [];
  // prevailingBefore[i]: the prevailing interval over the intervals before beats[i]'s.
  const prevailingBefore = [Number.NaN, Number.NaN];
  for (let k = 1; k < beats.length - 1; k++) prevailingBefore.push(nextPrevailingRrMs(prevailingBefore[k]!, beats[k]!.timeMs - beats[k - 1]!.timeMs));
  let i = 1;
  while (i < beats.length) {
    const rr = beats[i]!.timeMs - beats[i - 1]!.timeMs;
    if (!qualifies(rr)) { before.push(rr); if (before.length > 8) before.shift(); i++; continue; }
    let j = i;
    while (j < beats.length && qualifies(beats[j]!.timeMs - beats[j - 1]!.timeMs)) j++;
    // beats[i..j) qualify.
    if (j - i >= p.consecutiveBeats) {
      const runRr = (beats[i + p.consecutiveBeats - 1]!.timeMs - beats[i - 1]!.timeMs) / p.consecutiveBeats;
      const ref = before.length === 8 ? before.reduce((a, b) => a + b, 0) / 8 : undefined;
      const differs = (reference: number) => (direction === 'above' ? runRr <= (1 - p.suddenChange) * reference : runRr >= reference / (1 - p.suddenChange));
      const sudden = p.suddenChange > 0 && ref !== undefined && differs(ref) && differs(prevailingBefore[i]!);
      const sustainMs = sudden ? Math.min(p.sustainMs, p.suddenSustainMs) : p.sustainMs;
      const lastOk = Math.max(i + p.consecutiveBeats - 1, i + beats.slice(i, j).findIndex((b) => b.timeMs - beats[i]!.timeMs >= sustainMs));
      if (beats[j - 1]!.timeMs - beats[i]!.timeMs >= sustainMs && lastOk < j) out.push({ startMs: beats[i]!.timeMs, endMs: j < beats.length ? beats[j]!.timeMs : durationMs });
    }
    // The sudden-onset reference is the consecutive intervals inside the limit before a run.
    before.length = 0;
    i = j;
  }
  return out;
}

/**
 * Runs of consecutive ventricular beats containing `minBeats` consecutive ones whose
 * V-to-V intervals are a rate above `hrAboveBpm` — by their mean and on all but one of them, the
 * vt detector's own test (`isVtRate`); from the first beat of the first such window to the first
 * non-ventricular beat.
 */
export function ventricularRuns(beats: readonly ReferenceBeat[], durationMs: number, minBeats: number, hrAboveBpm: number): Interval[] {
  const out: Interval[] = [];
  let i = 0;
  while (i < beats.length) {
    if (beats[i]!.cls !== 'V') { i++; continue; }
    let j = i;
    while (j < beats.length && beats[j]!.cls === 'V') j++;
    // beats[i..j) is a maximal ventricular run; find its first fast window.
    for (let w = i; w + minBeats <= j; w++) {
      const intervals: number[] = [];
      for (let k = w + 1; k < w + minBeats; k++) intervals.push(beats[k]!.timeMs - beats[k - 1]!.timeMs);
      if (isVtRate(intervals, hrAboveBpm)) {
        out.push({ startMs: beats[w]!.timeMs, endMs: j < beats.length ? beats[j]!.timeMs : durationMs });
        break;
      }
    }
    i = j;
  }
  return out;
}

/** Ground-truth episodes of every threshold kind for one record, with the default criteria. */
export function thresholdGroundTruth(record: ReferenceRecord): Record<ThresholdKind, Interval[]> {
  const { beats, durationMs } = record;
  return {
    asystole: silences(beats, ASYSTOLE_DEFAULTS.minGapMs),
    // One alarm per silence (issue 12): a silence reaching the asystole length is no pause.
    pause: silences(beats, PAUSE_DEFAULTS.minRrMs).filter((s) => s.endMs - s.startMs < ASYSTOLE_DEFAULTS.minGapMs),
    extreme_brady: rateRuns(beats, durationMs, EXTREME_BRADY_DEFAULTS.consecutiveBeats, (rr) => 60000 / rr < EXTREME_BRADY_DEFAULTS.hrBelowBpm),
    brady: sustainedRuns(beats, durationMs, BRADY_DEFAULTS, 'below'),
    extreme_tachy: rateRuns(beats, durationMs, EXTREME_TACHY_DEFAULTS.consecutiveBeats, (rr) => 60000 / rr > EXTREME_TACHY_DEFAULTS.hrAboveBpm),
    tachy: sustainedRuns(beats, durationMs, TACHY_DEFAULTS, 'above'),
    vt: ventricularRuns(beats, durationMs, VT_DEFAULTS.minBeats, VT_DEFAULTS.hrAboveBpm),
  };
}

export interface Agreement {
  /** Ground-truth episodes / detected episodes. */
  truth: number;
  detected: number;
  /** Truth episodes overlapped by a detection / not. */
  matched: number;
  missed: number;
  /** Detections overlapping no truth episode. */
  extra: number;
  /** Leading matches (first truth episode of a detection) whose onsets are the same beat. */
  sameOnset: number;
  /** Largest |detected onset − truth onset| over leading matches, ms. */
  maxOnsetErrorMs: number;
}

const touches = (a: Interval, b: Interval) => a.startMs <= b.endMs && b.startMs <= a.endMs;

/**
 * Episode agreement between truth and detections of one kind (overlap matching: limit alarms
 * with hysteresis may cover several truth runs with one alert, which counts every run matched).
 */
export function agreement(truth: readonly Interval[], detected: readonly Interval[]): Agreement {
  const a: Agreement = { truth: truth.length, detected: detected.length, matched: 0, missed: 0, extra: 0, sameOnset: 0, maxOnsetErrorMs: 0 };
  for (const t of truth) {
    const d = detected.find((x) => touches(x, t));
    if (!d) { a.missed++; continue; }
    a.matched++;
    // Onsets are compared only between a detection and the first truth episode it covers
    // (later runs merged into one alert by hysteresis have no onset of their own).
    if (truth.find((x) => touches(x, d)) !== t) continue;
    const err = Math.abs(d.startMs - t.startMs);
    if (err === 0) a.sameOnset++;
    a.maxOnsetErrorMs = Math.max(a.maxOnsetErrorMs, err);
  }
  a.extra = detected.filter((d) => !truth.some((t) => touches(d, t))).length;
  return a;
}
