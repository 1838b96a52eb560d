import { describe, expect, it } from 'vitest';
import { BRADY_IMMEDIATE, createBradyDetector } from '../../../processor/detectors/brady.ts';
import { createTachyDetector, TACHY_IMMEDIATE } from '../../../processor/detectors/tachy.ts';
import { at, byIntervals, episodes, lastT, regular, run, type TestBeat } from './stream-helpers.ts';

/*
 * The consecutive-beat rule and the hysteresis, without the alarm delay (BRADY_IMMEDIATE /
 * TACHY_IMMEDIATE: what a clinician gets with sustainMs 0). The delay of the defaults, which
 * only postpones the opening of the same episode, is tested in limit-sustain.test.ts.
 */

/** 10 beats at 75 bpm (RR 800), then beats by the given intervals, then 10 beats at 75 bpm. */
function scenario(rrMs: readonly number[]): { beats: TestBeat[]; untilMs: number; firstMs: number } {
  const lead = regular(0, 800, 10);
  const middle = byIntervals(lastT(lead), rrMs);
  const tail = byIntervals(lastT(middle), Array(10).fill(800));
  const beats = [...lead, ...middle, ...tail];
  return { beats, untilMs: lastT(beats) + 1, firstMs: middle[0]!.t };
}

describe('bradycardia limit alarm (HR < 50 bpm for 5 consecutive beats, hysteresis 5 bpm × 5 beats)', () => {
  it('raises nothing for 4 consecutive beats under 50 bpm', () => {
    const s = scenario(Array(4).fill(1250));
    expect(run([createBradyDetector(BRADY_IMMEDIATE)], s.beats, s.untilMs)).toEqual([]);
  });

  it('raises one brady for 5 consecutive beats under 50 bpm, onset at the first of them', () => {
    const s = scenario(Array(5).fill(1250));
    const alerts = run([createBradyDetector(BRADY_IMMEDIATE)], s.beats, s.untilMs);
    expect(episodes(alerts)).toEqual([
      { kind: 'brady', onset: at(s.firstMs), end: null, revision: 1 },
      // Ends at the first of 5 recovered beats (HR ≥ 55): the first 800 ms beat after the run.
      { kind: 'brady', onset: at(s.firstMs), end: at(s.firstMs + 4 * 1250 + 800), revision: 2 },
    ]);
    expect(alerts[0]).toMatchObject({ priority: 'medium', evidence: { hrBpm: 48, beatCount: 5, rrMs: [1250, 1250, 1250, 1250, 1250] } });
  });

  it('treats exactly 50 bpm (RR 1200 ms) as not below the limit', () => {
    const s = scenario(Array(8).fill(1200));
    expect(run([createBradyDetector(BRADY_IMMEDIATE)], s.beats, s.untilMs)).toEqual([]);
  });

  it('does not flap when the rate hovers around the limit: one alert until it recovers by 5 bpm for 5 beats', () => {
    // 48 bpm ×5 (onset), 52/48 bpm alternating, 6 beats at 52 bpm (inside the 50–55 band: not
    // recovered), 4 beats at 60 bpm, one at 48 (recovery restarts), then 5 at 60 bpm (recovered).
    const hovering = [...Array(5).fill(1250), ...Array(5).fill([1154, 1250]).flat(), ...Array(6).fill(1154), ...Array(4).fill(1000), 1250, ...Array(5).fill(1000)];
    const s = scenario(hovering);
    const recoveredAt = lastT(byIntervals(s.firstMs, hovering.slice(1, -4)));
    expect(episodes(run([createBradyDetector(BRADY_IMMEDIATE)], s.beats, s.untilMs))).toEqual([
      { kind: 'brady', onset: at(s.firstMs), end: null, revision: 1 },
      { kind: 'brady', onset: at(s.firstMs), end: at(recoveredAt), revision: 2 },
    ]);
  });

  it('follows a patient-specific limit', () => {
    const s = scenario(Array(5).fill(1400)); // 42.9 bpm
    expect(run([createBradyDetector({ ...BRADY_IMMEDIATE, limitBpm: 40 })], s.beats, s.untilMs)).toEqual([]);
    expect(run([createBradyDetector({ ...BRADY_IMMEDIATE, limitBpm: 45 })], s.beats, s.untilMs)).toHaveLength(2);
  });
});

describe('tachycardia limit alarm (HR > 120 bpm for 5 consecutive beats, EDAN RR < 0.5 s × 5)', () => {
  it('raises nothing for 4 consecutive beats over 120 bpm', () => {
    const s = scenario(Array(4).fill(480));
    expect(run([createTachyDetector(TACHY_IMMEDIATE)], s.beats, s.untilMs)).toEqual([]);
  });

  it('raises one tachy for 5 consecutive beats over 120 bpm, onset at the first of them', () => {
    const s = scenario(Array(5).fill(480));
    const alerts = run([createTachyDetector(TACHY_IMMEDIATE)], s.beats, s.untilMs);
    expect(episodes(alerts)).toEqual([
      { kind: 'tachy', onset: at(s.firstMs), end: null, revision: 1 },
      { kind: 'tachy', onset: at(s.firstMs), end: at(s.firstMs + 4 * 480 + 800), revision: 2 },
    ]);
    expect(alerts[0]).toMatchObject({ priority: 'medium', evidence: { hrBpm: 125, beatCount: 5 } });
  });

  it('treats exactly 120 bpm (RR 500 ms) as not above the limit', () => {
    const s = scenario(Array(8).fill(500));
    expect(run([createTachyDetector(TACHY_IMMEDIATE)], s.beats, s.untilMs)).toEqual([]);
  });

  it('does not start on fast beats broken by one slower beat', () => {
    const s = scenario([480, 480, 480, 600, 480, 480, 480, 480]);
    expect(run([createTachyDetector(TACHY_IMMEDIATE)], s.beats, s.untilMs)).toEqual([]);
  });

  it('stays one episode while the rate sits in the hysteresis band (115–120 bpm)', () => {
    const rr = [...Array(5).fill(480), ...Array(20).fill(510), ...Array(5).fill(600)];
    const s = scenario(rr);
    const recoveredAt = lastT(byIntervals(s.firstMs, rr.slice(1, 26)));
    expect(episodes(run([createTachyDetector(TACHY_IMMEDIATE)], s.beats, s.untilMs))).toEqual([
      { kind: 'tachy', onset: at(s.firstMs), end: null, revision: 1 },
      { kind: 'tachy', onset: at(s.firstMs), end: at(recoveredAt), revision: 2 },
    ]);
  });

  it('rejects a hysteresis as large as the limit', () => {
    expect(() => createTachyDetector({ limitBpm: 100, hysteresisBpm: 100 })).toThrow(RangeError);
  });
});
