import { describe, expect, it } from 'vitest';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { bxb, pp, se } from '../../eval/bxb.ts';
import { challengeScore, readAlarmLabels, type AlarmResult } from '../../eval/challenge2015.ts';

const b = (timeMs: number, cls: 'N' | 'V' = 'N') => ({ timeMs, cls });

describe('bxb-style beat comparison (EC57: 150 ms window, learning period excluded)', () => {
  it('matches within 150 ms, counts misses and extras, and skips the learning period', () => {
    const ref = [b(100), b(400_000), b(401_000, 'V'), b(402_000), b(403_000)];
    const det = [b(120), b(400_150), b(401_010, 'V'), b(402_151), b(402_500), b(403_000, 'V')];
    const c = bxb(ref, det, 300_000);
    // 400 000 ↔ 400 150 (exactly 150 ms), 401 000 ↔ 401 010, 403 000 ↔ 403 000; 402 000 has none within 150 ms.
    expect(c).toEqual({ tp: 3, fn: 1, fp: 2, vTp: 1, vFn: 0, vFp: 1 });
    expect(se(c)).toBe(75);
    expect(pp(c)).toBe(60);
  });

  it('takes the nearest detection when two fall in the window; the other is a false positive', () => {
    expect(bxb([b(400_000)], [b(399_900), b(400_010)], 0)).toMatchObject({ tp: 1, fn: 0, fp: 1 });
  });
});

describe('CinC 2015 scoring', () => {
  const r = (truth: boolean, alarm: boolean): AlarmResult => ({ name: 'x', truth, alarm });
  it('scores 100·(TP+TN)/(TP+TN+FP+5·FN)', () => {
    const s = challengeScore([r(true, true), r(true, false), r(false, false), r(false, false), r(false, true)]);
    expect(s).toMatchObject({ tp: 1, fn: 1, tn: 2, fp: 1, tpr: 50 });
    expect(s.score).toBeCloseTo((100 * 3) / (3 + 1 + 5), 10);
  });

  it('reads alarms.csv and rejects a label that is not 0 or 1', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'cinc2015-'));
    await writeFile(join(dir, 'alarms.csv'), 'record,true_alarm\nv100s,1\nv101l,0\n');
    expect([...(await readAlarmLabels(dir))]).toEqual([['v100s', true], ['v101l', false]]);
    await writeFile(join(dir, 'alarms.csv'), 'record,true_alarm\nv100s,yes\n');
    await expect(readAlarmLabels(dir)).rejects.toThrow(/label yes/);
  });
});
