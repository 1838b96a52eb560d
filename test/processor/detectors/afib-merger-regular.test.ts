/**
 * The extra-detection merger (rr-irregularity.ts `ExtraDetectionMerger`) and a regular rhythm at
 * twice the rate of the one before it (abrupt SVT, 4:1 → 2:1 flutter, AF at ≈ 75/min turning into
 * 2:1 flutter at 150/min, afdb 04908's transition): the merger's reference is the median of the
 * intervals it released, so after an ≈ 800 ms rhythm it merges the 400 ms intervals pairwise and
 * goes on doing so while the rhythm lasts (each merged pair keeps the reference at 800 ms). The
 * AF detector must still raise no AF, end an open AF alarm where the AF ends, report the
 * ventricular rate and say "consider atrial flutter" (EVALUATION.md §2, "A regular fast rhythm
 * and the extra-detection merger"; eval/af-merger-regular.ts measures it over rates, jitter, ectopy
 * and afdb's flutter).
 */
import { describe, expect, it } from 'vitest';
import type { BeatClass } from '../../../contracts/telemetry.ts';
import { createPrng, gaussian, uniform } from '../../../device-sim/prng.ts';
import { AFIB_DEFAULTS, createAfibDetector } from '../../../processor/detectors/afib.ts';
import { ExtraDetectionMerger } from '../../../processor/detectors/rr-irregularity.ts';
import { run, type TestBeat } from './stream-helpers.ts';

/** Beats of consecutive segments: each `next` gives the following interval(s) and class. */
function beats(seed: number, segments: { ms: number; next: (random: () => number, i: number) => [number, BeatClass][] }[]): { beats: TestBeat[]; ends: number[] } {
  const random = createPrng(seed);
  const out: TestBeat[] = [{ t: 0 }];
  const ends: number[] = [];
  let t = 0;
  for (const s of segments) {
    const start = t;
    for (let i = 0; t - start < s.ms; i++) for (const [rr, cls] of s.next(random, i)) out.push({ t: (t += Math.round(rr)), cls });
    ends.push(t);
  }
  return { beats: out, ends };
}

/** Regular intervals of `rrMs` with Gaussian jitter of SD `sdMs`; every 40th beat an APC (0.7 × RR, 1.1 × RR back) or a PVC (0.65 ×, 1.35 ×), alternately, when `ectopy`. */
const regular = (rrMs: number, sdMs: number, ectopy = false) => (random: () => number, i: number): [number, BeatClass][] => {
  const jit = (x: number) => x + sdMs * gaussian(random);
  if (ectopy && i % 40 === 39) return (i / 40) % 2 < 1 ? [[jit(0.7 * rrMs), 'S'], [jit(1.1 * rrMs), 'N']] : [[jit(0.65 * rrMs), 'V'], [jit(1.35 * rrMs), 'N']];
  return [[jit(rrMs), 'N']];
};

/** The share of the intervals in [fromMs, toMs) that the production merger merges, fed as the AF detector feeds it. */
function mergedShare(list: readonly TestBeat[], fromMs: number, toMs: number): number {
  const m = new ExtraDetectionMerger(AFIB_DEFAULTS.extraDetectionTolerance, AFIB_DEFAULTS.windowBeats, AFIB_DEFAULTS.minPlausibleRrMs);
  const sv = (b: TestBeat) => (b.cls ?? 'N') === 'N' || b.cls === 'S';
  let merged = 0;
  let all = 0;
  for (let i = 1; i < list.length; i++) {
    const b = list[i]!;
    const out = sv(b) && sv(list[i - 1]!) ? m.push(b.t, b.t - list[i - 1]!.t) : m.flush();
    if (b.t >= fromMs && b.t < toMs) {
      all++;
      merged += out.filter((x) => x.merged).length * 2;
    }
  }
  return merged / all;
}

describe('AF detection and a regular rhythm at twice the rate of the one before it (the extra-detection merger)', () => {
  it('sinus 75/min, then regular 150/min: the merger reads the fast rhythm as merged pairs, and no AF alarm opens (jitter 5 and 20 ms, with and without ectopy)', () => {
    for (const sd of [5, 20]) for (const ectopy of [false, true]) {
      const { beats: list, ends } = beats(sd + (ectopy ? 100 : 0), [{ ms: 300_000, next: regular(800, sd, ectopy) }, { ms: 600_000, next: regular(400, sd, ectopy) }]);
      // The situation under test: about half of the fast rhythm's intervals merged (a pair into one).
      expect(mergedShare(list, ends[0]!, ends[1]!), `SD ${sd}, ectopy ${ectopy}`).toBeGreaterThan(0.9);
      expect(run([createAfibDetector()], list, ends[1]! + 1000), `SD ${sd}, ectopy ${ectopy}`).toEqual([]);
    }
  });

  it('AF at ≈ 75/min turning into regular 150/min: the alarm ends at the AF\u2019s end as with the merger off, reports the AF\u2019s rate (not half of it) and says consider atrial flutter', () => {
    const { beats: list, ends } = beats(20261207, [
      { ms: 300_000, next: regular(800, 20) },
      { ms: 300_000, next: (random) => [[uniform(random, 520, 1080), 'N']] },
      { ms: 360_000, next: regular(400, 10) },
    ]);
    const [sinusEnd, afEnd, flutterEnd] = ends as [number, number, number];
    expect(mergedShare(list, afEnd, flutterEnd)).toBeGreaterThan(0.9);
    const ended = (extraDetectionTolerance: number) => {
      const snapshots = run([createAfibDetector({ extraDetectionTolerance })], list, flutterEnd + 1000).filter((a) => a.end);
      expect(snapshots).toHaveLength(1);
      return snapshots[0]!;
    };
    const got = ended(AFIB_DEFAULTS.extraDetectionTolerance);
    const off = ended(0);
    // The 8-beat windows place an AF boundary within a few beats.
    expect(Math.abs(Date.parse(got.end!) - Date.parse(off.end!))).toBeLessThanOrEqual(5000);
    expect(Math.abs(Date.parse(got.onset) - Date.parse(off.onset))).toBeLessThanOrEqual(5000);
    expect(got.evidence.endNote).toBe('irregularity ended, rate 150/min regular — consider atrial flutter');
    // The AF's own rate (≈ 75/min): not halved, and no further from it than with the merger off.
    const afRate = (60_000 * list.filter((b) => b.t > sinusEnd && b.t <= afEnd).length) / (afEnd - sinusEnd);
    expect(got.evidence.hrBpm!).toBeGreaterThan(0.8 * afRate);
    expect(Math.abs(got.evidence.hrBpm! - afRate)).toBeLessThanOrEqual(Math.abs(off.evidence.hrBpm! - afRate));
  });
});
