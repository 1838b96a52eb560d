import { describe, expect, it } from 'vitest';
import type { BeatClass } from '../../contracts/telemetry.ts';
import { scanCriteria } from '../../device-sim/criteria-scan.ts';
import type { TimedBeat } from '../../device-sim/frames.ts';

const T0 = 1_764_064_800_000;

/** Beats from RR intervals (the first beat at T0), all of class `cls` unless given per interval. */
function beatsOf(rrMs: readonly number[], cls: BeatClass | readonly BeatClass[] = 'N'): TimedBeat[] {
  const out: TimedBeat[] = [{ tMs: T0, cls: 'N' }];
  rrMs.forEach((rr, i) => out.push({ tMs: out.at(-1)!.tMs + rr, cls: typeof cls === 'string' ? cls : cls[i]! }));
  return out;
}
const normal = (n: number) => Array<number>(n).fill(800);

describe('criteria scan of generated beats', () => {
  it('finds nothing in normal rhythm between 500 and 1200 ms', () => {
    expect(scanCriteria(beatsOf([500, 1200, 800, 500, 500, 500, 500, 1200, 1200, 1200, 1200, 1200, 999]))).toEqual([]);
  });

  it('needs 5 consecutive intervals above 1500 ms for extreme bradycardia (4 give nothing), onset at the first of them; 5 beats are no bradycardia (alarm delay)', () => {
    expect(scanCriteria(beatsOf([...normal(3), 1501, 1501, 1501, 1501, ...normal(3)]))).toEqual([]);
    const beats = beatsOf([...normal(3), 1501, 1501, 1501, 1501, 1501, ...normal(3)]);
    expect(scanCriteria(beats)).toEqual([{ kind: 'extreme_brady', onsetMs: beats[4]!.tMs, criterionMs: beats[8]!.tMs }]);
  });

  it('treats exactly 1500 ms as 40 bpm (not below 40) and exactly 1200 ms as 50 bpm (not below 50)', () => {
    expect(scanCriteria(beatsOf([...normal(8), ...Array<number>(25).fill(1500), ...normal(2)])).map((h) => h.kind)).toEqual(['brady']);
    expect(scanCriteria(beatsOf([...normal(8), ...Array<number>(120).fill(1200), ...normal(2)]))).toEqual([]);
  });

  it('brady: a sudden drop (≥ 25 % longer intervals than the 8 before) is met 30 s after the first slow beat; a gradual one only after 2 min', () => {
    const sudden = beatsOf([...normal(8), ...Array<number>(21).fill(1500), ...normal(2)]);
    expect(scanCriteria(sudden)).toEqual([{ kind: 'brady', onsetMs: sudden[9]!.tMs, criterionMs: sudden[29]!.tMs }]);
    expect(scanCriteria(beatsOf([...normal(8), ...Array<number>(20).fill(1500), ...normal(2)]))).toEqual([]); // 28.5 s
    // 1100 → 1300 ms is 18 % longer: not sudden, 2 min needed (92 intervals = 119.6 s are not enough)
    expect(scanCriteria(beatsOf([...Array<number>(8).fill(1100), ...Array<number>(92).fill(1300), ...normal(2)]))).toEqual([]);
    const gradual = beatsOf([...Array<number>(8).fill(1100), ...Array<number>(100).fill(1300), ...normal(2)]);
    expect(scanCriteria(gradual)).toEqual([{ kind: 'brady', onsetMs: gradual[9]!.tMs, criterionMs: gradual[9 + 93]!.tMs }]);
  });

  it('takes the intervals before the list as the sudden-onset reference, and without 8 of them a run is not sudden', () => {
    const run = beatsOf([800, 800, ...Array<number>(25).fill(1500)]);
    expect(scanCriteria(run)).toEqual([]);
    expect(scanCriteria(run, normal(6)).map((h) => h.kind)).toEqual(['brady']);
    expect(scanCriteria(run, normal(5))).toEqual([]); // 7 intervals inside the limit
    // the reference is the consecutive intervals inside the limit right before the run: a lone
    // slow interval among them (the rate already dipped) restarts it (as in limit-rate.ts)
    expect(scanCriteria(run, [...normal(6), 1450])).toEqual([]);
    expect(scanCriteria(run, [1450, ...normal(6)]).map((h) => h.kind)).toEqual(['brady']);
  });

  it('a run is sudden against the prevailing interval too (alarm-criteria.ts SUDDEN_ONSET): the return to a sleeping rate after an arousal is not', () => {
    const run = beatsOf([920, ...Array<number>(25).fill(1300), ...normal(2)]);
    const arousal = Array<number>(8).fill(920);
    // 1300 ms is 41 % longer than the arousal's 920 ms: sudden, unless the heart had prevailed near 1056 ms (23 %)
    expect(scanCriteria(run, arousal).map((h) => h.kind)).toEqual(['brady']);
    expect(scanCriteria(run, arousal, 830).map((h) => h.kind)).toEqual(['brady']);
    expect(scanCriteria(run, arousal, 1056)).toEqual([]);
    // the prevailing interval follows the list's own intervals: a long enough slow stretch inside it pulls it up
    const sleepInList = beatsOf([...Array<number>(522).fill(1150), ...Array<number>(98).fill(920), ...Array<number>(25).fill(1300), ...normal(2)]);
    expect(scanCriteria(sleepInList, arousal, 800)).toEqual([]);
  });

  it('needs 17 intervals under 60000/140 ms for extreme tachycardia, and a tachycardia lasting 30 s after a sudden onset or 5 min after a gradual one', () => {
    const sixteen = beatsOf([...normal(2), ...Array<number>(16).fill(428), ...normal(2)]);
    expect(scanCriteria(sixteen)).toEqual([]);
    const seventeen = beatsOf([...normal(2), ...Array<number>(17).fill(428), ...normal(2)]);
    expect(scanCriteria(seventeen)).toEqual([{ kind: 'extreme_tachy', onsetMs: seventeen[3]!.tMs, criterionMs: seventeen[19]!.tMs }]);
    const sudden = beatsOf([...normal(8), ...Array<number>(80).fill(429), ...normal(2)]);
    expect(scanCriteria(sudden)).toEqual([{ kind: 'tachy', onsetMs: sudden[9]!.tMs, criterionMs: sudden[9 + 70]!.tMs }]); // 70 × 429 ms ≥ 30 s
    expect(scanCriteria(beatsOf([...normal(8), ...Array<number>(80).fill(500), ...normal(2)]))).toEqual([]);
    // 560 → 480 ms is 14 % shorter: not sudden, 5 min needed
    expect(scanCriteria(beatsOf([...Array<number>(8).fill(560), ...Array<number>(600).fill(480), ...normal(2)]))).toEqual([]);
    const gradual = beatsOf([...Array<number>(8).fill(560), ...Array<number>(640).fill(480), ...normal(2)]);
    expect(scanCriteria(gradual)).toEqual([{ kind: 'tachy', onsetMs: gradual[9]!.tMs, criterionMs: gradual[9 + 625]!.tMs }]);
  });

  it('reports a silence of 3 s up to 4 s as a pause, met at its end beat, and of 4 s or more as an asystole only, from the beat before it', () => {
    expect(scanCriteria(beatsOf([800, 2999, 800]))).toEqual([]);
    expect(scanCriteria(beatsOf([800, 3000, 800]))).toEqual([{ kind: 'pause', onsetMs: T0 + 800, criterionMs: T0 + 3800 }]);
    expect(scanCriteria(beatsOf([800, 3999, 800]))).toEqual([{ kind: 'pause', onsetMs: T0 + 800, criterionMs: T0 + 4799 }]);
    expect(scanCriteria(beatsOf([800, 4000, 800]))).toEqual([{ kind: 'asystole', onsetMs: T0 + 800, criterionMs: T0 + 4800 }]);
    // a pause after an asystole in the same list is still found
    expect(scanCriteria(beatsOf([800, 5000, 800, 3500, 800])).map((h) => [h.kind, h.onsetMs - T0])).toEqual([['asystole', 800], ['pause', 6600]]);
  });

  it('needs 5 consecutive ventricular beats whose V-to-V intervals average under 600 ms for VT', () => {
    const cls = (v: number): BeatClass[] => [...Array<BeatClass>(2).fill('N'), ...Array<BeatClass>(v).fill('V'), ...Array<BeatClass>(3).fill('N')];
    expect(scanCriteria(beatsOf([800, 800, 599, 599, 599, 599, 900, 800, 800], cls(4)))).toEqual([]);
    const five = beatsOf([800, 800, 599, 599, 599, 599, 599, 900, 800, 800], cls(5));
    expect(scanCriteria(five)).toEqual([{ kind: 'vt', onsetMs: five[3]!.tMs, criterionMs: five[7]!.tMs }]);
    // exactly 600 ms is 100 bpm, not above it
    expect(scanCriteria(beatsOf([800, 800, 600, 600, 600, 600, 600, 900, 800, 800], cls(5)))).toEqual([]);
    // fast by the mean but on only two of the four V-to-V intervals (one split): not VT, as the detector
    expect(scanCriteria(beatsOf([800, 800, 700, 710, 270, 460, 720, 900, 800, 800], cls(5)))).toEqual([]);
    // one slow interval (a complex the detector would miss) is allowed
    expect(scanCriteria(beatsOf([800, 800, 400, 400, 800, 400, 400, 900, 800, 800], cls(5))).map((h) => h.kind)).toEqual(['vt']);
  });
});
