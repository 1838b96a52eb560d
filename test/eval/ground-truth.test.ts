import { describe, expect, it } from 'vitest';
import { agreement, rateRuns, silences, sustainedRuns, ventricularRuns } from '../../eval/ground-truth.ts';
import { BRADY_DEFAULTS } from '../../processor/detectors/brady.ts';
import type { ReferenceBeat } from '../../eval/records.ts';

const beatsAt = (times: number[], cls: ReferenceBeat['cls'] = 'N'): ReferenceBeat[] => times.map((timeMs) => ({ timeMs, cls }));

describe('ground truth from reference beats', () => {
  it('finds silences of at least the threshold between consecutive beats', () => {
    expect(silences(beatsAt([0, 1000, 4999, 6000, 10_000]), 4000)).toEqual([{ startMs: 6000, endMs: 10_000 }]);
  });

  it('finds runs of ≥ N qualifying beats, each ending at the first beat that does not qualify', () => {
    // RR: 800, 1600 ×5, 800, 1600 ×4, 800
    const t = [0, 800, 2400, 4000, 5600, 7200, 8800, 9600, 11_200, 12_800, 14_400, 16_000, 16_800];
    expect(rateRuns(beatsAt(t), 20_000, 5, (rr) => rr > 1500)).toEqual([{ startMs: 2400, endMs: 9600 }]);
  });

  it('limit-alarm runs: sudden (30 s) against the 8 intervals before and the prevailing interval; the sleeping rate after an arousal needs 2 min', () => {
    const fromIntervals = (rr: number[]) => beatsAt(rr.reduce<number[]>((t, x) => [...t, t.at(-1)! + x], [0]));
    const fill = (rr: number, n: number) => Array<number>(n).fill(rr);
    // 75 s at 46 bpm after 90 s at 65 bpm: after 10 min awake at 75 bpm a sudden drop, after 10 min asleep at 52 bpm not
    const awake = fromIntervals([...fill(800, 750), ...fill(920, 98), ...fill(1300, 58), ...fill(1000, 10)]);
    const asleep = fromIntervals([...fill(1150, 522), ...fill(920, 98), ...fill(1300, 58), ...fill(1000, 10)]);
    expect(sustainedRuns(awake, 1e9, BRADY_DEFAULTS, 'below')).toEqual([{ startMs: awake[849]!.timeMs, endMs: awake[907]!.timeMs }]);
    expect(sustainedRuns(asleep, 1e9, BRADY_DEFAULTS, 'below')).toEqual([]);
  });

  it('finds ventricular runs from their first fast window to the first non-ventricular beat', () => {
    const beats = [...beatsAt([0, 800]), ...beatsAt([1300, 1800, 2300, 2800, 3300, 3800], 'V'), ...beatsAt([4600])];
    expect(ventricularRuns(beats, 10_000, 5, 100)).toEqual([{ startMs: 1300, endMs: 4600 }]);
    // V–V of exactly 600 ms is 100 bpm, not above it.
    const slow = [...beatsAt([0]), ...beatsAt([600, 1200, 1800, 2400, 3000], 'V'), ...beatsAt([3800])];
    expect(ventricularRuns(slow, 10_000, 5, 100)).toEqual([]);
    // The vt detector's rule: fast by the mean only because one interval is split (710, 270, 460, 720): no VT.
    const split = [...beatsAt([0]), ...beatsAt([700, 1410, 1680, 2140, 2860], 'V'), ...beatsAt([3600])];
    expect(ventricularRuns(split, 10_000, 5, 100)).toEqual([]);
  });

  it('scores agreement by overlap, comparing onsets only for the first truth episode of a detection', () => {
    const truth = [{ startMs: 0, endMs: 10 }, { startMs: 20, endMs: 30 }, { startMs: 50, endMs: 60 }];
    const detected = [{ startMs: 2, endMs: 25 }, { startMs: 80, endMs: 90 }];
    expect(agreement(truth, detected)).toEqual({ truth: 3, detected: 2, matched: 2, missed: 1, extra: 1, sameOnset: 0, maxOnsetErrorMs: 2 });
  });
});
