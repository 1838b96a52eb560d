import { describe, expect, it } from 'vitest';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { bxb, pp, se, vfEpisodes } from '../../eval/bxb.ts';
import type { WfdbAnnotation } from '../../device-sim/wfdb-annotations.ts';
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

  it('does not score ventricular flutter/fibrillation: beats between [ and ] are neither missed nor extra (WFDB bxb)', () => {
    const ann = (sample: number, code: number, symbol: string): WfdbAnnotation => ({ sample, code, symbol, subtype: 0, chan: 0, num: 0, aux: undefined });
    // 360 Hz: VF from 1000 s to 1010 s, and an unterminated one from 1500 s to the end (1800 s).
    const vf = vfEpisodes([ann(360_000, 1, 'N'), ann(360_000, 32, '['), ann(360_720, 31, '!'), ann(363_600, 33, ']'), ann(540_000, 32, '[')], 360, 1_800_000);
    expect(vf).toEqual([{ fromMs: 1_000_000, toMs: 1_010_000 }, { fromMs: 1_500_000, toMs: 1_800_000 }]);
    const ref = [b(999_000), b(1_002_000), b(1_011_000), b(1_600_000)];
    const det = [b(999_000), b(1_001_000), b(1_001_300), b(1_011_000), b(1_700_000)];
    expect(bxb(ref, det, 300_000, 150, vf)).toMatchObject({ tp: 2, fn: 0, fp: 0 });
    // Nothing excluded: the flutter-wave reference beats are missed and the detections in VF are extra.
    expect(bxb(ref, det, 300_000)).toMatchObject({ tp: 2, fn: 2, fp: 3 });
  });

  it('also takes VF episodes labelled only by rhythm ((VFL up to the next rhythm label)', () => {
    const rhythm = (sample: number, aux: string): WfdbAnnotation => ({ sample, code: 28, symbol: '+', subtype: 0, chan: 0, num: 0, aux });
    expect(vfEpisodes([rhythm(0, '(N'), rhythm(3600, '(VFL'), rhythm(7200, '(VT'), rhythm(10_800, '(VF')], 360, 60_000)).toEqual([{ fromMs: 10_000, toMs: 20_000 }, { fromMs: 30_000, toMs: 60_000 }]);
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
    try {
      await writeFile(join(dir, 'alarms.csv'), 'record,true_alarm\nv100s,1\nv101l,0\n');
      expect([...(await readAlarmLabels(dir))]).toEqual([['v100s', true], ['v101l', false]]);
      await writeFile(join(dir, 'alarms.csv'), 'record,true_alarm\nv100s,yes\n');
      await expect(readAlarmLabels(dir)).rejects.toThrow(/label yes/);
      // Without the header line the first record is not lost; the Challenge's three-column form.
      await writeFile(join(dir, 'alarms.csv'), 'v100s,1\r\nv101l,0\r\n\r\n');
      expect([...(await readAlarmLabels(dir))]).toEqual([['v100s', true], ['v101l', false]]);
      await writeFile(join(dir, 'alarms.csv'), 'v100s,Ventricular_Tachycardia,1\na103l,Asystole,0\n');
      expect([...(await readAlarmLabels(dir))]).toEqual([['v100s', true], ['a103l', false]]);
      await writeFile(join(dir, 'alarms.csv'), 'record,true_alarm\nv100s\n');
      await expect(readAlarmLabels(dir)).rejects.toThrow(/v100s has no label/);
      await writeFile(join(dir, 'alarms.csv'), 'record,true_alarm\n');
      await expect(readAlarmLabels(dir)).rejects.toThrow(/labels no record/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
