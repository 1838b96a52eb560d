/**
 * The "before" detector set of the nuisance-alarm comparison (EVALUATION.md §3) really is the rule
 * before issue 12 item 5, and the "after" (evaluation = production) set the new defaults.
 */
import { describe, expect, it } from 'vitest';
import { evaluationDetectors } from '../../eval/detector-set.ts';
import { beforeNuisanceDetectors } from '../../eval/ecg-eval.ts';
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
