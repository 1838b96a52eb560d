import { describe, expect, it } from 'vitest';
import { AsystoleDetector } from '../../../processor/detectors/asystole.ts';
import { createPauseDetector } from '../../../processor/detectors/pause.ts';
import { alarmCriteriaSchema, DEFAULT_ALARM_CRITERIA } from '../../../contracts/criteria.ts';
import { detectorsForCriteria } from '../../../processor/detector-set.ts';
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

  it('alone (no asystole to yield to) raises both pause and asystole for a 5 s silence, with the same onset and end', () => {
    const alerts = run([createPauseDetector(), new AsystoleDetector()], withGap(5000), upToLast(5000));
    expect(episodes(alerts)).toEqual([
      { kind: 'pause', onset: at(4000), end: null, revision: 1 },
      { kind: 'asystole', onset: at(4000), end: null, revision: 1 },
      { kind: 'pause', onset: at(4000), end: at(9000), revision: 2 },
      { kind: 'asystole', onset: at(4000), end: at(9000), revision: 2 },
    ]);
  });
});

describe('pause yielding to asystole (the production detector set: one alarm per silence)', () => {
  const kindsOf = (gapMs: number, options: Parameters<typeof run>[3] = {}, criteria = DEFAULT_ALARM_CRITERIA) =>
    episodes(run(detectorsForCriteria(criteria, ['asystole', 'pause']), withGap(gapMs), upToLast(gapMs), options));

  it('raises asystole only for a silence of 4 s or more, with its onset and end', () => {
    for (const gapMs of [4000, 5000, 7000]) {
      expect(kindsOf(gapMs)).toEqual([
        { kind: 'asystole', onset: at(4000), end: null, revision: 1 },
        { kind: 'asystole', onset: at(4000), end: at(4000 + gapMs), revision: 2 },
      ]);
    }
  });

  it('still raises every pause no asystole covers (3 s up to 4 s), onset and end together at its end beat', () => {
    for (const gapMs of [3000, 3500, 3999]) {
      const alerts = run(detectorsForCriteria(DEFAULT_ALARM_CRITERIA, ['asystole', 'pause']), withGap(gapMs), upToLast(gapMs));
      expect(episodes(alerts)).toEqual([
        { kind: 'pause', onset: at(4000), end: null, revision: 1 },
        { kind: 'pause', onset: at(4000), end: at(4000 + gapMs), revision: 2 },
      ]);
      // raised with the frame holding its end beat: at most 1 s after the 3 s point
      expect(Date.parse(alerts[0]!.detectedAt) - Date.parse(at(4000 + gapMs))).toBeLessThanOrEqual(1000);
    }
    expect(kindsOf(2999)).toEqual([]);
  });

  it('loses no pause over every silence length 2.5–6 s: each silence ≥ the pause threshold raises exactly one alarm, pause or asystole, and asystole exactly when it would alone', () => {
    for (let gapMs = 2500; gapMs <= 6000; gapMs += 50) {
      const yielded = kindsOf(gapMs).filter((e) => e.revision === 1).map((e) => e.kind);
      const alone = episodes(run([createPauseDetector(), new AsystoleDetector()], withGap(gapMs), upToLast(gapMs))).filter((e) => e.revision === 1).map((e) => e.kind);
      const expected = gapMs >= 4000 ? ['asystole'] : gapMs >= 3000 ? ['pause'] : [];
      expect([gapMs, yielded]).toEqual([gapMs, expected]);
      expect(alone.includes('asystole')).toBe(yielded.includes('asystole'));
      expect(alone.includes('pause')).toBe(yielded.length > 0);
    }
  });

  it('follows the patient\'s asystole length (3 s: every pause is an asystole; 6 s: a 5 s silence is a pause)', () => {
    const c = (minGapMs: number) => alarmCriteriaSchema.parse({ asystole: { minGapMs } });
    expect(kindsOf(3500, {}, c(3000)).map((e) => e.kind)).toEqual(['asystole', 'asystole']);
    expect(kindsOf(5000, {}, c(6000)).map((e) => e.kind)).toEqual(['pause', 'pause']);
  });

  it('keeps the data rules: nothing across lead-off; a silence measured across lost frames is an asystole, a shorter one a pause', () => {
    expect(kindsOf(5000, { leadOffFrames: [5, 6, 7] })).toEqual([]);
    expect(kindsOf(5000, { lostFrames: [5, 6, 7, 8] }).map((e) => e.kind)).toEqual(['asystole', 'asystole']);
    expect(kindsOf(3500, { lostFrames: [5, 6] }).map((e) => e.kind)).toEqual(['pause', 'pause']);
  });

  it('never raises a pause across lead-off frames', () => {
    expect(run([createPauseDetector()], withGap(5000), upToLast(5000), { leadOffFrames: [5, 6, 7] })).toEqual([]);
  });

  it('counts an asystole from where the data resume when no beat is known: a flat line after lead-off or lost frames is raised 4 s into it (no pause: a pause is an RR interval)', () => {
    // beats until 4 s, then lead-off (or lost frames) 5–8 s, then 10 s without a beat
    const beats = regular(0, 1000, 5);
    for (const options of [{ leadOffFrames: [5, 6, 7] }, { lostFrames: [5, 6, 7] }]) {
      const alerts = run(detectorsForCriteria(DEFAULT_ALARM_CRITERIA, ['asystole', 'pause']), beats, 18_000, options);
      expect(episodes(alerts)).toEqual([{ kind: 'asystole', onset: at(8000), end: null, revision: 1 }]);
      expect(alerts[0]!.detectedAt).toBe(at(12_000));
      expect(alerts[0]!.evidence.note).toMatch(/no QRS since the data resumed/);
    }
    // a beat within 4 s of the data resuming: nothing
    const back = [...beats, ...regular(11_500, 1000, 6)];
    expect(run(detectorsForCriteria(DEFAULT_ALARM_CRITERIA, ['asystole', 'pause']), back, 17_000, { leadOffFrames: [5, 6, 7] })).toEqual([]);
  });

  it('reports a pause the device measured across lost frames, onset and end together', () => {
    const alerts = run([createPauseDetector()], withGap(5000), upToLast(5000), { lostFrames: [5, 6, 7, 8] });
    expect(episodes(alerts)).toEqual([
      { kind: 'pause', onset: at(4000), end: null, revision: 1 },
      { kind: 'pause', onset: at(4000), end: at(9000), revision: 2 },
    ]);
  });
});
