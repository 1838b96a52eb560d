import { describe, expect, it } from 'vitest';
import { AsystoleDetector } from '../../../processor/detectors/asystole.ts';
import { createPauseDetector } from '../../../processor/detectors/pause.ts';
import { at, episodes, lastT, regular, run } from './stream-helpers.ts';

/** 5 beats at 1 s, a silence of `gapMs` after the beat at 4 s, then 5 beats at 1 s. */
const withGap = (gapMs: number) => [...regular(0, 1000, 5), ...regular(4000 + gapMs, 1000, 5)];
/** Frames up to just past the last beat (no trailing silence). */
const upToLast = (gapMs: number) => lastT(withGap(gapMs)) + 1;

describe('pause (RR ≥ 3 s)', () => {
  it('raises nothing for an RR of 2.999 s', () => {
    expect(run([createPauseDetector()], withGap(2999), upToLast(2999))).toEqual([]);
  });

  it('raises one pause for an RR of exactly 3 s, from the beat before it to the beat ending it', () => {
    const alerts = run([createPauseDetector()], withGap(3000), upToLast(3000));
    expect(episodes(alerts)).toEqual([
      { kind: 'pause', onset: at(4000), end: null, revision: 1 },
      { kind: 'pause', onset: at(4000), end: at(7000), revision: 2 },
    ]);
    expect(alerts[1]).toMatchObject({ priority: 'medium', category: 'physiological', evidence: { gapMs: 3000, thresholds: { minRrMs: 3000 } } });
  });

  it('raises the pause while the silence lasts, not only when it ends', () => {
    const alerts = run([createPauseDetector()], regular(0, 1000, 5), 12_000);
    expect(episodes(alerts)).toEqual([{ kind: 'pause', onset: at(4000), end: null, revision: 1 }]);
  });

  it('uses a patient-specific threshold within 2.5–4 s', () => {
    expect(episodes(run([createPauseDetector({ minRrMs: 2500 })], withGap(2600), upToLast(2600)))).toEqual([
      { kind: 'pause', onset: at(4000), end: null, revision: 1 },
      { kind: 'pause', onset: at(4000), end: at(6600), revision: 2 },
    ]);
    expect(() => createPauseDetector({ minRrMs: 2000 })).toThrow(RangeError);
    expect(() => createPauseDetector({ minRrMs: 4500 })).toThrow(RangeError);
  });

  it('raises both pause and asystole for a 5 s silence, with the same onset and end', () => {
    const alerts = run([createPauseDetector(), new AsystoleDetector()], withGap(5000), upToLast(5000));
    expect(episodes(alerts)).toEqual([
      { kind: 'pause', onset: at(4000), end: null, revision: 1 },
      { kind: 'asystole', onset: at(4000), end: null, revision: 1 },
      { kind: 'pause', onset: at(4000), end: at(9000), revision: 2 },
      { kind: 'asystole', onset: at(4000), end: at(9000), revision: 2 },
    ]);
  });

  it('never raises a pause across lead-off frames', () => {
    expect(run([createPauseDetector()], withGap(5000), upToLast(5000), { leadOffFrames: [5, 6, 7] })).toEqual([]);
  });

  it('reports a pause the device measured across lost frames, onset and end together', () => {
    const alerts = run([createPauseDetector()], withGap(5000), upToLast(5000), { lostFrames: [5, 6, 7, 8] });
    expect(episodes(alerts)).toEqual([
      { kind: 'pause', onset: at(4000), end: null, revision: 1 },
      { kind: 'pause', onset: at(4000), end: at(9000), revision: 2 },
    ]);
  });
});
