import { describe, expect, it } from 'vitest';
import { AdaptiveArtefactCorrector, coefficientOfSampleEntropy, ExtraDetectionMerger, prematureBeatSignature, RrIrregularity, type RrInterval } from '../../../processor/detectors/rr-irregularity.ts';
import { createPrng, uniform, type RandomSource } from '../../../device-sim/prng.ts';

/** Pushes beats with the given RR intervals; returns every sample produced. */
function feed(measure: RrIrregularity, rrMs: readonly number[]) {
  let t = 0;
  return rrMs.map((rr) => measure.push((t += rr), rr));
}

describe('RR irregularity measure (Petrėnas et al. 2015)', () => {
  it('produces its first sample once N + 2 intervals are in (the median filter looks one interval ahead)', () => {
    const samples = feed(new RrIrregularity(), Array(12).fill(800));
    expect(samples.map((s) => s !== undefined)).toEqual([false, false, false, false, false, false, false, false, false, true, true, true]);
    // The sample refers to the interval before the newest one.
    expect(samples[9]).toMatchObject({ timeMs: 9 * 800, rrMs: 800, af: false, windowIrregular: false, pairFraction: 0 });
  });

  it('removes an isolated premature beat with its compensatory pause in the median filter', () => {
    const last = feed(new RrIrregularity(), [800, 800, 800, 800, 500, 1100, 800, 800, 800, 800, 800, 800]).at(-1)!;
    expect({ pairFraction: last.pairFraction, windowIrregular: last.windowIrregular }).toEqual({ pairFraction: 0, windowIrregular: false });
  });

  it('counts the pairs of median-filtered intervals that differ by ≥ 30 ms', () => {
    // Medians of the last 8 intervals: 700 900 700 900 750 850 800 820 → 25 of 28 pairs differ
    // by ≥ 30 ms; B = (6420 / 6600 − 1)² ≈ 7.4·10⁻⁴ ≥ δ, so the bigeminy gate is open.
    const last = feed(new RrIrregularity(), [800, 600, 1000, 700, 900, 650, 950, 750, 850, 800, 820]).at(-1)!;
    expect(last.pairFraction).toBeCloseTo(25 / 28, 10);
    expect(last.rrMs).toBe(800);
  });

  it('treats bigeminy as not AF: alternating intervals keep the bigeminy gate closed', () => {
    const samples = feed(new RrIrregularity(), Array(300).fill([500, 1000]).flat()).filter((s) => s !== undefined);
    expect(samples.every((s) => !s.af && !s.windowIrregular)).toBe(true);
  });

  it('warms its averagers up on what it has seen: one sinus window with B just over δ at the start does not hold the bigeminy gate open', () => {
    // The first 30 s of sinus rhythm (SDNN ≈ 50 ms, respiratory sinus arrhythmia) of the fault
    // suite's seed aeb051, device d2: its first window's B is 2.6·10⁻⁴ (δ = 2·10⁻⁴), those after it
    // ≤ 0.9·10⁻⁴. Started at the first window's value, B's average stayed above δ for 18 windows
    // and 13 of the first 14 windows read irregular (an AF stretch was dated back into them).
    const sinus = [658, 704, 751, 695, 672, 670, 741, 803, 754, 700, 686, 717, 742, 721, 655, 614, 651, 711, 767, 737,
      698, 727, 790, 813, 739, 668, 676, 731, 764, 727, 669, 691, 782, 845, 805, 745, 771, 831, 820, 732];
    const samples = feed(new RrIrregularity(), sinus).filter((s) => s !== undefined);
    expect(samples.length).toBe(31);
    expect(samples.slice(3).filter((s) => s.windowIrregular || s.af)).toEqual([]);
  });

  it('tells how far its averagers have warmed up, and takes that back with them (a successor\'s hand-over)', () => {
    const m = new RrIrregularity();
    expect(m.averagerWeights).toEqual([0, 0]);
    feed(m, Array(10).fill(800));
    // 8 RR-trend values (the median filter's look-ahead holds one back), 1 window: 1 − 0.98ⁿ.
    expect(m.averagerWeights[0]).toBeCloseTo(1 - 0.98 ** 8, 12);
    expect(m.averagerWeights[1]).toBeCloseTo(0.02, 12);
    feed(m, Array(2000).fill(800));
    for (const w of m.averagerWeights) expect(w).toBeCloseTo(1, 12);
    const successor = new RrIrregularity();
    successor.averagers = m.averagers;
    successor.averagerWeights = [0.5, 0.25];
    expect(successor.averagerWeights).toEqual([0.5, 0.25]);
    m.reset();
    expect(m.averagerWeights).toEqual([0, 0]);
  });

  it('starts over after reset', () => {
    const m = new RrIrregularity();
    feed(m, Array(20).fill(800));
    m.reset();
    expect(feed(m, Array(9).fill(800)).every((s) => s === undefined)).toBe(true);
  });
});

describe('coefficient of sample entropy (Lake & Moorman 2011)', () => {
  it('is low for sinus rhythm with atrial premature beats repeating the same intervals, high for independent AF-like intervals', () => {
    // 64 intervals: 800 ms sinus with a 480/1040 ms premature-beat pair every 4th beat.
    const ectopy = Array.from({ length: 64 }, (_, i) => (i % 4 === 2 ? 480 : i % 4 === 3 ? 1040 : 800));
    const random = createPrng(3);
    const af = Array.from({ length: 64 }, () => Math.round(uniform(random, 400, 800)));
    const cosenEctopy = coefficientOfSampleEntropy(ectopy, 30);
    const cosenAf = coefficientOfSampleEntropy(af, 30);
    // A strict two-interval cycle: each interval predicts the next, SampEn = 0, COSEn = ln 2r − ln mean RR.
    const cycle = Array.from({ length: 64 }, (_, i) => (i % 2 ? 1000 : 600));
    expect(coefficientOfSampleEntropy(cycle, 30)).toBeCloseTo(Math.log(0.06) - Math.log(0.8), 9);
    expect(cosenEctopy).toBeLessThan(-1.0);
    expect(cosenAf).toBeGreaterThan(-1.0);
  });

  it('is +Infinity when no two templates match at length 2, and NaN below 3 intervals', () => {
    expect(coefficientOfSampleEntropy([500, 600, 700, 800, 900], 30)).toBe(Number.POSITIVE_INFINITY);
    expect(coefficientOfSampleEntropy([800, 800], 30)).toBeNaN();
  });
});

describe('premature-beat signature (atrial ectopy vs AF)', () => {
  it('is 1 for sinus rhythm with an atrial premature beat every 4th beat, low for AF, NaN without premature intervals', () => {
    // 800 ms sinus; APB: 500 ms premature interval, 1000 ms pause, back to 800.
    const ectopy = Array.from({ length: 15 }, () => [800, 800, 500, 1000]).flat();
    expect(prematureBeatSignature(ectopy).fraction).toBe(1);
    const random = createPrng(5);
    const af = Array.from({ length: 60 }, () => uniform(random, 400, 1000));
    const s = prematureBeatSignature(af);
    expect(s.premature).toBeGreaterThan(5);
    expect(s.fraction).toBeLessThan(0.35);
    expect(prematureBeatSignature(Array.from({ length: 30 }, () => 800)).fraction).toBeNaN();
  });
});

describe('extra-detection merger (Lipponen & Tarvainen 2019 "extra beat")', () => {
  /** Feeds intervals as beats; returns the released intervals, with a final flush. */
  function merge(m: ExtraDetectionMerger, rrMs: readonly number[]): RrInterval[] {
    let t = 0;
    return [...rrMs.flatMap((rr) => m.push((t += rr), rr)), ...m.flush()];
  }

  it('restores sinus rhythm whose intervals are split by spurious detections', () => {
    // 800 ms sinus; every 3rd interval split by a false detection 300–500 ms after the R peak.
    const random = createPrng(11);
    const rr: number[] = [];
    for (let i = 0; i < 120; i++) {
      if (i >= 10 && i % 3 === 0) { const x = Math.round(uniform(random, 300, 500)); rr.push(x, 800 - x); } else rr.push(800);
    }
    const out = merge(new ExtraDetectionMerger(0.15), rr);
    expect(out.map((i) => i.rrMs)).toEqual(Array(120).fill(800));
    // The merged interval ends at the real beat.
    expect(out.at(-1)!.timeMs).toBe(rr.reduce((a, b) => a + b, 0));
  });

  it('leaves sinus rhythm with atrial premature beats alone (premature + pause is not one interval)', () => {
    const apbs = Array.from({ length: 30 }, () => [800, 800, 500, 1000]).flat();
    expect(merge(new ExtraDetectionMerger(0.15), apbs).map((i) => i.rrMs)).toEqual(apbs);
  });

  it('merges few intervals of AF-like independent RR', () => {
    const random = createPrng(23);
    const af = Array.from({ length: 2000 }, () => Math.round(uniform(random, 300, 900)));
    const out = merge(new ExtraDetectionMerger(0.15), af);
    const merged = af.length - out.length;
    expect(merged).toBeGreaterThan(0);
    expect(merged / af.length).toBeLessThan(0.05);
    expect(out.reduce((a, i) => a + i.rrMs, 0)).toBe(af.reduce((a, b) => a + b, 0));
  });

  it('releases a held short interval unchanged when the next one does not complete it, and passes everything at tolerance 0', () => {
    const rr = [...Array(8).fill(800), 500, 800, 800];
    const m = new ExtraDetectionMerger(0.15);
    let t = 0;
    const released = rr.map((x) => m.push((t += x), x).map((i) => i.rrMs));
    expect(released.slice(8)).toEqual([[], [500, 800], [800]]);
    const split = [...Array(8).fill(800), 400, 400];
    expect(merge(new ExtraDetectionMerger(0), split).map((i) => i.rrMs)).toEqual(split);
    expect(() => new ExtraDetectionMerger(1)).toThrow(RangeError);
  });
});

describe('adaptive artefact correction (Lipponen & Tarvainen 2019 beat classification; afib.ts artefactCorrection, off by default)', () => {
  function correct(c: AdaptiveArtefactCorrector, rrMs: readonly number[]): RrInterval[] {
    let t = 0;
    return [...rrMs.flatMap((rr) => c.push((t += rr), rr)), ...c.flush()];
  }
  /** Sinus rhythm around 800 ms with ± 10 ms of beat-to-beat variation. */
  const sinus = (random: RandomSource, n: number) => Array.from({ length: n }, () => Math.round(uniform(random, 790, 810)));

  it('merges the two halves of an interval split by an extra detection in sinus rhythm, ending at the real beat', () => {
    const random = createPrng(5);
    const base = sinus(random, 150);
    const rr: number[] = [];
    base.forEach((x, i) => { if (i >= 20 && i % 10 === 0) { const a = Math.round(uniform(random, 250, 550)); rr.push(a, x - a); } else rr.push(x); });
    const out = correct(new AdaptiveArtefactCorrector(false), rr);
    expect(out.map((i) => i.rrMs)).toEqual(base);
    expect(out.at(-1)!.timeMs).toBe(rr.reduce((a, b) => a + b, 0));
  });

  it('splits an interval of two sinus intervals (a missed detection) only when asked to', () => {
    const random = createPrng(7);
    const rr = sinus(random, 60);
    rr.splice(40, 2, rr[40]! + rr[41]!);
    expect(correct(new AdaptiveArtefactCorrector(false), rr).map((i) => i.rrMs)).toEqual(rr);
    const split = correct(new AdaptiveArtefactCorrector(true), rr);
    expect(split).toHaveLength(rr.length + 1);
    expect(split[40]!.rrMs).toBe(rr[40]! / 2);
  });

  it('leaves sinus rhythm with atrial premature beats and AF-like independent RR almost untouched', () => {
    const apbs = Array.from({ length: 30 }, () => [800, 800, 500, 1000]).flat();
    expect(correct(new AdaptiveArtefactCorrector(true), apbs).map((i) => i.rrMs)).toEqual(apbs);
    const random = createPrng(23);
    const af = Array.from({ length: 2000 }, () => Math.round(uniform(random, 300, 900)));
    const out = correct(new AdaptiveArtefactCorrector(false), af);
    // The thresholds scale with AF's own dispersion: fewer merges than the fixed ± 15 % (< 5 %, above).
    expect((af.length - out.length) / af.length).toBeLessThan(0.01);
    expect(out.reduce((a, i) => a + i.rrMs, 0)).toBe(af.reduce((a, b) => a + b, 0));
  });
});
