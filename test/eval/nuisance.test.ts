/**
 * The "before" detector set of the nuisance-alarm comparison (EVALUATION.md §3) really is the rule
 * before issue 12 item 5, and the "after" (evaluation = production) set the new defaults.
 */
import { describe, expect, it } from 'vitest';
import { evaluationDetectors } from '../../eval/detector-set.ts';
import { beforeNuisanceDetectors, formatNuisance } from '../../eval/ecg-eval.ts';
import type { AlarmRate } from '../../eval/evaluate.ts';
import { byIntervals, lastT, regular, run, type TestBeat } from '../processor/detectors/stream-helpers.ts';

describe('nuisance-alarm comparison detector sets', () => {
  // 20 s sudden brady at 43 bpm, then a 5 s silence, then 25 s of sudden tachy at 133 bpm.
  const beats: TestBeat[] = regular(0, 800, 10);
  beats.push(...byIntervals(lastT(beats), [...Array(15).fill(1400), ...Array(10).fill(800), 5000, ...Array(10).fill(800), ...Array(55).fill(450), ...Array(10).fill(800)]));
  const raised = (list: ReturnType<typeof run>) => list.filter((a) => a.revision === 1).map((a) => a.kind).sort();

  it('before: brady and tachy at their 5th beat, and a pause next to the asystole', () => {
    expect(raised(run(beforeNuisanceDetectors(), beats, lastT(beats) + 1))).toEqual(['asystole', 'brady', 'pause', 'tachy']);
  });

  it('after (production): the short limit runs raise nothing, the silence only its asystole', () => {
    expect(raised(run(evaluationDetectors(), beats, lastT(beats) + 1))).toEqual(['asystole']);
  });
});

describe('nuisance-alarm table (formatNuisance)', () => {
  /** A rate of `brady` and `asystole` alarms per 24 h over one day. */
  const rate = (brady: number, asystole = 0): AlarmRate => ({
    hours: 24,
    byKind: { brady: { alarms: brady, false: 0, alarmsPer24h: brady, falsePer24h: 0 }, asystole: { alarms: asystole, false: 0, alarmsPer24h: asystole, falsePer24h: 0 } },
  });

  it('names the patients at or above 1 medium alarm per 24 h (the target is per patient-day), high-priority alarms not counted', () => {
    const text = formatNuisance([{
      database: 'nsr2db',
      before: rate(9),
      after: rate(0.75),
      records: [{ name: 'nsr001', before: rate(2, 3), after: rate(0, 3) }, { name: 'nsr002', before: rate(16), after: rate(1.5) }],
    }]);
    expect(text).toContain('nsr2db: 1 of 2 records at ≥ 1 per 24 h after (nsr002); before → after: nsr001 2.0 → 0.0, nsr002 16.0 → 1.5');
  });
});
