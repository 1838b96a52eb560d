/**
 * The end hysteresis of the extreme rate alarms (consecutive-rate.ts `RateRecovery`, the afdb 04908 finding):
 * a rate hovering at the limit is one episode, a real recovery ends it within the recovery time,
 * and the onset is the same beat at the same time as without it.
 */
import { describe, expect, it } from 'vitest';
import { DEFAULT_ALARM_CRITERIA, alarmCriteriaSchema } from '../../../contracts/criteria.ts';
import { detectorsForCriteria } from '../../../processor/detector-set.ts';
import { ConsecutiveRateDetector, monitorHrBpm, type ConsecutiveRateHandover } from '../../../processor/detectors/consecutive-rate.ts';
import type { Detector, EpisodeChange } from '../../../processor/detectors/detector.ts';
import { createExtremeBradyDetector } from '../../../processor/detectors/extreme-brady.ts';
import { createExtremeTachyDetector } from '../../../processor/detectors/extreme-tachy.ts';

/** Beats from a list of bpm values (beat-to-beat), starting at 0 ms. */
function beatsAt(bpm: readonly number[], startMs = 0): { timeMs: number; rrMs: number }[] {
  let t = startMs;
  return bpm.map((hr) => {
    const rrMs = 60000 / hr;
    t += rrMs;
    return { timeMs: Math.round(t), rrMs };
  });
}

/** Every change with the beat time it came at; onTime every second between beats. */
function feed(d: Detector, beats: readonly { timeMs: number; rrMs: number }[]): (EpisodeChange & { atMs: number })[] {
  const out: (EpisodeChange & { atMs: number })[] = [];
  let nextTick = Math.ceil((beats[0]?.timeMs ?? 0) / 1000) * 1000;
  for (const b of beats) {
    while (nextTick < b.timeMs) { out.push(...d.onTime({ nowMs: nextTick }).map((c) => ({ ...c, atMs: nextTick }))); nextTick += 1000; }
    out.push(...d.onBeat({ ...b, cls: 'N' }).map((c) => ({ ...c, atMs: b.timeMs })));
  }
  return out;
}

/** A seeded pseudo-random series (mulberry32). */
function random(seed: number) {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** 60 s at 80, then `minutes` of a rate hovering 135–152 (a beat ≤ 140 every 10–30 beats), then 90 bpm for 90 s. */
function hoveringThenRecovery(minutes: number, seed = 1) {
  const r = random(seed);
  const bpm: number[] = Array.from({ length: 80 }, () => 80);
  let next = 20;
  const hovering = minutes * 145;
  for (let i = 0; i < hovering; i++) {
    if (--next <= 0) { bpm.push(135 + 4 * r()); next = 10 + Math.floor(20 * r()); }
    else bpm.push(141 + 11 * r());
  }
  const recoveryAt = bpm.length;
  for (let i = 0; i < 135; i++) bpm.push(90);
  return { beats: beatsAt(bpm), recoveryAt };
}

describe('extreme tachycardia: end hysteresis', () => {
  it('a rate hovering 135–152/min for 9 minutes is one episode; ending at the first slower beat it was many', () => {
    const { beats } = hoveringThenRecovery(9);
    const now = feed(createExtremeTachyDetector(), beats);
    const before = feed(createExtremeTachyDetector({ recoveryMs: 0 }), beats);
    expect(now.filter((c) => c.type === 'onset')).toHaveLength(1);
    expect(now.filter((c) => c.type === 'end')).toHaveLength(1);
    expect(before.filter((c) => c.type === 'onset').length).toBeGreaterThan(20);
  });

  it('raises the onset at the same beat, with the same onset time, as the rule without hysteresis; later onsets of that rule fall inside the episode', () => {
    const { beats } = hoveringThenRecovery(9, 7);
    const now = feed(createExtremeTachyDetector(), beats);
    const before = feed(createExtremeTachyDetector({ recoveryMs: 0 }), beats);
    const first = now.find((c) => c.type === 'onset')!;
    expect({ onsetMs: first.onsetMs, atMs: first.atMs }).toEqual({ onsetMs: before[0]!.onsetMs, atMs: before[0]!.atMs });
    const end = now.find((c) => c.type === 'end') as Extract<EpisodeChange, { type: 'end' }>;
    for (const c of before.filter((x) => x.type === 'onset')) expect(c.onsetMs).toBeLessThan(end.endMs);
  });

  it('a real recovery to 90/min ends it within the recovery time: end = the first beat the averaged rate is ≤ 130, reported 30 s later', () => {
    const { beats, recoveryAt } = hoveringThenRecovery(3);
    const changes = feed(createExtremeTachyDetector(), beats);
    const end = changes.find((c) => c.type === 'end') as Extract<EpisodeChange, { type: 'end' }> & { atMs: number };
    const firstSlowMs = beats[recoveryAt]!.timeMs;
    // The 12-interval average (without the extremes) is ≤ 130 within 6 beats of 90/min.
    expect(end.endMs).toBeGreaterThanOrEqual(firstSlowMs);
    expect(end.endMs).toBeLessThanOrEqual(beats[recoveryAt + 6]!.timeMs);
    expect(end.atMs - end.endMs).toBeGreaterThanOrEqual(30_000);
    expect(end.atMs - end.endMs).toBeLessThan(30_000 + 1000);
    expect(end.evidence.thresholds).toMatchObject({ hrAboveBpm: 140, consecutiveBeats: 17, hysteresisBpm: 10, recoveryMs: 30_000 });
  });

  it('a recovery shorter than 30 s (25 s at 90/min) does not end it, and the relapse opens no second alarm', () => {
    const bpm = [...Array(80).fill(80), ...Array(200).fill(150), ...Array(37).fill(90), ...Array(200).fill(150), ...Array(60).fill(80)];
    const changes = feed(createExtremeTachyDetector(), beatsAt(bpm));
    expect(changes.map((c) => c.type)).toEqual(['onset', 'end']);
    const before = feed(createExtremeTachyDetector({ recoveryMs: 0 }), beatsAt(bpm));
    expect(before.map((c) => c.type)).toEqual(['onset', 'end', 'onset', 'end']);
  });

  it('after the end, a new run is counted from its first beat, also when it began during the recovery stretch', () => {
    // 150/min, 40 s at 90 (ends), then 150/min: its run began before the end was final? No: 40 s > 30 s,
    // so the run after it is a new episode whose onset is the same beat as without the hysteresis.
    const bpm = [...Array(80).fill(80), ...Array(100).fill(150), ...Array(60).fill(90), ...Array(100).fill(150), ...Array(30).fill(80)];
    const now = feed(createExtremeTachyDetector(), beatsAt(bpm)).filter((c) => c.type === 'onset');
    const before = feed(createExtremeTachyDetector({ recoveryMs: 0 }), beatsAt(bpm)).filter((c) => c.type === 'onset');
    expect(now.map((c) => [c.onsetMs, c.atMs])).toEqual(before.map((c) => [c.onsetMs, c.atMs]));
  });

  it('does not end while the beats stop (nothing says the rate recovered) nor across a hole in the data', () => {
    const d = createExtremeTachyDetector();
    const fast = beatsAt(Array(40).fill(150));
    feed(d, fast);
    const last = fast.at(-1)!.timeMs;
    expect(d.onTime({ nowMs: last + 60_000 })).toEqual([]);
    const slow = beatsAt(Array(10).fill(90), last + 60_000);
    feed(d, slow);
    d.onDiscontinuity(slow.at(-1)!.timeMs + 500);
    // The recovered stretch starts again after the hole: 30 s after it, not after the first slow beat.
    const after = beatsAt(Array(60).fill(90), slow.at(-1)!.timeMs + 1000);
    const changes = feed(d, after);
    const end = changes.find((c) => c.type === 'end') as Extract<EpisodeChange, { type: 'end' }>;
    expect(end.endMs).toBeGreaterThan(slow.at(-1)!.timeMs);
  });

  it('a graceful hand-over carries the recovered stretch: the successor ends the episode at the same beat', () => {
    const bpm = [...Array(40).fill(80), ...Array(60).fill(150), ...Array(60).fill(90)];
    const beats = beatsAt(bpm);
    const whole = feed(createExtremeTachyDetector(), beats);
    const split = 40 + 60 + 20;
    const first = createExtremeTachyDetector();
    feed(first, beats.slice(0, split));
    const state = first.handoverState() as ConsecutiveRateHandover;
    expect(state.recoveredSinceMs).toBeDefined();
    const second = createExtremeTachyDetector();
    second.resumePending(state);
    const rest = feed(second, beats.slice(split)).filter((c) => c.type === 'end');
    expect(rest.map((c) => [c.type, (c as { endMs: number }).endMs])).toEqual(whole.filter((c) => c.type === 'end').map((c) => [c.type, (c as { endMs: number }).endMs]));
  });
});

describe('extreme bradycardia: end hysteresis', () => {
  it('a rate hovering 36–42/min is one episode, ending 30 s after the averaged rate is ≥ 45', () => {
    const r = random(3);
    const bpm = [...Array(30).fill(70), ...Array.from({ length: 200 }, (_, i) => (i % 7 === 6 ? 41 + r() : 35 + 4 * r())), ...Array(60).fill(60)];
    const beats = beatsAt(bpm);
    const now = feed(createExtremeBradyDetector(), beats);
    const before = feed(createExtremeBradyDetector({ recoveryMs: 0 }), beats);
    expect(now.map((c) => c.type)).toEqual(['onset', 'end']);
    expect(before.filter((c) => c.type === 'onset').length).toBeGreaterThan(10);
    expect({ onsetMs: now[0]!.onsetMs, atMs: now[0]!.atMs }).toEqual({ onsetMs: before[0]!.onsetMs, atMs: before[0]!.atMs });
    const end = now[1] as Extract<EpisodeChange, { type: 'end' }> & { atMs: number };
    // (At 60/min the average of 4 is no longer taken after one fast beat; the 12 without the extremes are ≤ 45 after 6.)
    expect(end.endMs).toBeLessThanOrEqual(beats[230 + 6]!.timeMs);
    expect(end.atMs - end.endMs).toBeLessThan(31_000);
  });
});

describe('the averaged rate (IEC 60601-2-27 style)', () => {
  it('drops the longest and shortest of 12 intervals; the last 4 when the last 3 exceed 1200 ms', () => {
    expect(monitorHrBpm([...Array(11).fill(400), 2000])).toBeCloseTo(150);
    expect(monitorHrBpm([...Array(9).fill(750), 1600, 1600, 1600])).toBeCloseTo(60000 / ((750 + 3 * 1600) / 4));
    expect(monitorHrBpm([])).toBeNaN();
  });

  it('refuses a recovery rule that cannot end', () => {
    expect(() => new ConsecutiveRateDetector({ kind: 'extreme_tachy', qualifies: () => true, consecutiveBeats: 17, criterion: '', thresholds: {}, recovery: { direction: 'above', limitBpm: 140, hysteresisBpm: 140, recoveryMs: 30_000 } })).toThrow(RangeError);
  });
});

describe('per-patient criteria of the end hysteresis', () => {
  it('criteria stored before the hysteresis get its defaults; the detectors use the patient\u2019s numbers', () => {
    const old = alarmCriteriaSchema.parse({ extreme_tachy: { enabled: true, hrAboveBpm: 150, consecutiveBeats: 17 }, extreme_brady: { enabled: true, hrBelowBpm: 35, consecutiveBeats: 5 } });
    expect(old.extreme_tachy).toEqual({ enabled: true, hrAboveBpm: 150, consecutiveBeats: 17, hysteresisBpm: 10, recoveryMs: 30_000 });
    expect(old.extreme_brady).toEqual({ enabled: true, hrBelowBpm: 35, consecutiveBeats: 5, hysteresisBpm: 5, recoveryMs: 30_000 });
    expect(DEFAULT_ALARM_CRITERIA.extreme_tachy).toMatchObject({ hysteresisBpm: 10, recoveryMs: 30_000 });
    expect(() => alarmCriteriaSchema.parse({ extreme_tachy: { recoveryMs: 200_000 } })).toThrow();
    expect(() => alarmCriteriaSchema.parse({ extreme_brady: { hysteresisBpm: 21 } })).toThrow();
  });

  it('recoveryMs 0 is the PhysioNet rule: the episode ends at the first beat back under the limit', () => {
    const criteria = alarmCriteriaSchema.parse({ extreme_tachy: { recoveryMs: 0 } });
    const d = detectorsForCriteria(criteria, ['extreme_tachy'])[0]!;
    const beats = beatsAt([...Array(20).fill(80), ...Array(20).fill(150), ...Array(20).fill(90)]);
    const end = feed(d, beats).find((c) => c.type === 'end') as Extract<EpisodeChange, { type: 'end' }>;
    expect(end.endMs).toBe(beats[40]!.timeMs);
    const withDefaults = detectorsForCriteria(DEFAULT_ALARM_CRITERIA, ['extreme_tachy'])[0]!;
    const end2 = feed(withDefaults, [...beats, ...beatsAt(Array(60).fill(90), beats.at(-1)!.timeMs)]).find((c) => c.type === 'end') as Extract<EpisodeChange, { type: 'end' }>;
    expect(end2.endMs).toBeGreaterThan(beats[40]!.timeMs);
    const hyst = detectorsForCriteria(alarmCriteriaSchema.parse({ extreme_tachy: { recoveryMs: 60_000 } }), ['extreme_tachy'])[0]!;
    const changes = feed(hyst, [...beats, ...beatsAt(Array(100).fill(90), beats.at(-1)!.timeMs)]);
    const e3 = changes.find((c) => c.type === 'end') as Extract<EpisodeChange, { type: 'end' }> & { atMs: number };
    expect(e3.atMs - e3.endMs).toBeGreaterThanOrEqual(60_000);
  });
});
