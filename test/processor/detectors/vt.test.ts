import { describe, expect, it } from 'vitest';
import { createVtDetector } from '../../../processor/detectors/vt.ts';
import { at, byIntervals, episodes, lastT, regular, run, type TestBeat } from './stream-helpers.ts';

/** 10 normal beats at 75 bpm, ventricular beats by the given intervals, 10 normal beats. */
function withRun(vRrMs: readonly number[]): { beats: TestBeat[]; untilMs: number; firstV: number; firstAfter: number } {
  const lead = regular(0, 800, 10);
  const run = byIntervals(lastT(lead), vRrMs, 'V');
  const tail = byIntervals(lastT(run), Array(10).fill(800));
  const beats = [...lead, ...run, ...tail];
  return { beats, untilMs: lastT(beats) + 1, firstV: run[0]!.t, firstAfter: tail[0]!.t };
}

describe('ventricular tachycardia (≥ 5 consecutive V beats at HR > 100 bpm)', () => {
  it('raises nothing for 4 consecutive ventricular beats at 150 bpm', () => {
    const s = withRun([400, 400, 400, 400]);
    expect(run([createVtDetector()], s.beats, s.untilMs)).toEqual([]);
  });

  it('raises one vt for 5 consecutive ventricular beats, onset at the first V and end at the next non-V beat', () => {
    const s = withRun([400, 400, 400, 400, 400]);
    const alerts = run([createVtDetector()], s.beats, s.untilMs);
    expect(episodes(alerts)).toEqual([
      { kind: 'vt', onset: at(s.firstV), end: null, revision: 1 },
      { kind: 'vt', onset: at(s.firstV), end: at(s.firstAfter), revision: 2 },
    ]);
    expect(alerts[0]).toMatchObject({ priority: 'high', category: 'physiological', evidence: { hrBpm: 150, beatCount: 5, rrMs: [400, 400, 400, 400] } });
  });

  it('needs a rate above 100 bpm: exactly 100 bpm (V–V 600 ms) raises nothing, 590 ms raises vt', () => {
    const slow = withRun([600, 600, 600, 600, 600, 600]);
    expect(run([createVtDetector()], slow.beats, slow.untilMs)).toEqual([]);
    const fast = withRun([590, 590, 590, 590, 590]);
    expect(run([createVtDetector()], fast.beats, fast.untilMs)).toHaveLength(2);
  });

  it('one extra detection does not make a slow run fast: two intervals at or below the limit in the window raise nothing', () => {
    // Beats of a rhythm at 83/min read as V (motion artefact), a noise spike between two of them
    // splitting one interval: mean of the window 710, 270, 460, 720 ms = 540 ms (111 bpm).
    const split = withRun([720, 710, 710, 270, 460, 720, 720]);
    expect(run([createVtDetector()], split.beats, split.untilMs)).toEqual([]);
    // (an irregular run, 400 and 650 ms alternating — mean 525 ms, 114 bpm — likewise: 2 slow intervals per window)
    const alternating = withRun([400, 400, 650, 400, 650, 400, 650]);
    expect(run([createVtDetector()], alternating.beats, alternating.untilMs)).toEqual([]);
  });

  it('a VT with one complex missed (one doubled interval in the window) still raises vt, at the first V', () => {
    const s = withRun([400, 400, 800, 400, 400]);
    expect(episodes(run([createVtDetector()], s.beats, s.untilMs))[0]).toEqual({ kind: 'vt', onset: at(s.firstV), end: null, revision: 1 });
  });

  it('starts at the first beat of the first fast window when a ventricular run speeds up', () => {
    // V beats 1–3 at 40 bpm (V–V 1500 ms), then V beats 4–8 at 150 bpm. The rate of a window is
    // its mean V–V interval: windows 1–5 (1500,1500,400,400) and 2–6 (1500,400,400,400: 675 ms)
    // are ≤ 100 bpm, window 3–7 (400 ms) is the first fast one, so the onset is the 3rd V.
    const s = withRun([1500, 1500, 1500, 400, 400, 400, 400, 400]);
    const thirdV = s.firstV + 3000;
    const alerts = run([createVtDetector()], s.beats, s.untilMs);
    expect(episodes(alerts)).toEqual([
      { kind: 'vt', onset: at(thirdV), end: null, revision: 1 },
      { kind: 'vt', onset: at(thirdV), end: at(s.firstAfter), revision: 2 },
    ]);
    expect(alerts[1]).toMatchObject({ evidence: { beatCount: 6, hrBpm: 150 } });
  });

  it('does not count through a non-ventricular beat: 4 V, one N, 4 V raise nothing', () => {
    const lead = regular(0, 800, 10);
    const beats = [...lead, ...byIntervals(lastT(lead), [400, 400, 400, 400], 'V')];
    beats.push(...byIntervals(lastT(beats), [700]), ...byIntervals(lastT(beats) + 700, [400, 400, 400, 400], 'V'));
    beats.push(...byIntervals(lastT(beats), Array(5).fill(800)));
    expect(run([createVtDetector()], beats, lastT(beats) + 1)).toEqual([]);
  });

  it('restarts the count after lost frames', () => {
    // 3 V before a 2 s hole, 3 V after: never 5 known-consecutive ventricular beats.
    const lead = regular(0, 800, 10);
    const before = byIntervals(lastT(lead), [400, 400, 400], 'V');
    const after = byIntervals(lastT(before) + 2400, [400, 400, 400], 'V');
    const beats = [...lead, ...before, ...after, ...byIntervals(lastT(after), Array(5).fill(800))];
    const holeStart = Math.ceil((lastT(before) + 1) / 1000);
    expect(run([createVtDetector()], beats, lastT(beats) + 1, { lostFrames: [holeStart, holeStart + 1] })).toEqual([]);
  });
});
