import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import type { TimedBeat } from '../../device-sim/frames.ts';
import { clinicalBasicsScenario, loadScenarioFile, parseScenario, resolveScenario, type Scenario } from '../../device-sim/scenario.ts';
import { ScenarioTimeline } from '../../device-sim/scenario-timeline.ts';

const T0 = 1_764_064_800_000;

function generate(scenario: Readonly<Scenario>, spanMs: number, seed = 7): { beats: TimedBeat[]; timeline: ScenarioTimeline } {
  const timeline = new ScenarioTimeline({ deviceId: 'dev-1', seed, t0Ms: T0, scenario });
  const beats: TimedBeat[] = [];
  for (const b of timeline.beats()) {
    if (b.tMs >= T0 + spanMs) break;
    beats.push(b);
  }
  return { beats, timeline };
}

/** Consecutive runs of beats whose RR (to the previous beat) satisfies `test`. */
function runs(beats: TimedBeat[], test: (rrMs: number) => boolean): Array<{ first: number; last: number; count: number; rr: number[] }> {
  const out: Array<{ first: number; last: number; count: number; rr: number[] }> = [];
  let cur: { first: number; last: number; count: number; rr: number[] } | undefined;
  for (let i = 1; i < beats.length; i++) {
    const t = (beats[i] as TimedBeat).tMs;
    const rr = t - (beats[i - 1] as TimedBeat).tMs;
    if (test(rr)) {
      cur ??= { first: t, last: t, count: 0, rr: [] };
      cur.last = t;
      cur.count++;
      cur.rr.push(rr);
    } else if (cur) {
      out.push(cur);
      cur = undefined;
    }
  }
  if (cur) out.push(cur);
  return out;
}

describe('scenario engine', () => {
  it('produces the clinical-basics episodes at the scheduled times, and ground truth that matches the beats', () => {
    const cycleMs = 60_000 * 4 + 20_000 * 2 + 6000;
    const { beats, timeline } = generate(clinicalBasicsScenario(), cycleMs);
    const brady = runs(beats, (rr) => rr > 1500 && rr < 3000);
    const tachy = runs(beats, (rr) => rr < 60_000 / 140);
    const silences = runs(beats, (rr) => rr >= 3000);
    // exactly one run of each, nothing unscripted: no other interval beyond the 50 / 120 bpm limits either
    expect([brady.length, tachy.length, silences.length]).toEqual([1, 1, 1]);
    expect([runs(beats, (rr) => rr > 1200).length, runs(beats, (rr) => rr < 500).length]).toEqual([2, 1]);
    const next = (t: number) => beats.find((b) => b.tMs > t)!.tMs;
    const nth = (t: number, n: number) => beats[beats.findIndex((b) => b.tMs === t) + n - 1]!.tMs;
    const bradyOnset = brady[0]!.first;
    const tachyOnset = tachy[0]!.first;
    const silenceStart = silences[0]!.first - 6000;
    const truth = timeline.groundTruth(T0 + cycleMs);
    // ends: the first beat that no longer qualifies (extreme kinds), the beat ending the silence (asystole)
    expect(truth.map(({ kind, onsetMs, endMs, alarm, criterionMs }) => ({ kind, onsetMs, endMs, alarm, criterionMs }))).toEqual([
      { kind: 'extreme_brady', onsetMs: bradyOnset, endMs: next(brady[0]!.last), alarm: 'extreme_brady', criterionMs: nth(bradyOnset, 5) },
      { kind: 'extreme_tachy', onsetMs: tachyOnset, endMs: next(tachy[0]!.last), alarm: 'extreme_tachy', criterionMs: nth(tachyOnset, 17) },
      { kind: 'asystole', onsetMs: silenceStart, endMs: silences[0]!.first, alarm: 'asystole', criterionMs: silenceStart + 4000 },
    ]);
    // nothing else is due (issue 12): the 20 s extreme brady/tachy are below 50 / over 120 bpm
    // too, but end before the limit alarms' 30 s sudden-onset delay, and a silence of 4 s or more
    // is an asystole, not also a pause — no medium alarm next to the high-priority one.
    expect(truth.map((e) => e.implied)).toEqual([[], [], []]);
    expect(brady[0]!.last - bradyOnset).toBeLessThan(30_000);
    expect(tachy[0]!.last - tachyOnset).toBeLessThan(30_000);
    // Episodes begin within one normal beat of their scheduled start (+ one episode RR for brady/tachy)
    expect(brady[0]!.first - (T0 + 60_000)).toBeGreaterThanOrEqual(0);
    expect(brady[0]!.first - (T0 + 60_000)).toBeLessThanOrEqual(1300 + 2000);
    expect(tachy[0]!.first - (T0 + 140_000)).toBeLessThanOrEqual(1300 + 375);
    expect(silences[0]!.first - 6000).toBeLessThan(T0 + 220_000);
    // HR ≈ 30–36 and 160–180 bpm, long enough for the 5- and 17-beat alarm criteria
    expect(brady[0]!.rr.every((rr) => rr >= 1650 && rr <= 2000) && brady[0]!.count >= 5).toBe(true);
    expect(tachy[0]!.rr.every((rr) => rr >= 333 && rr <= 375) && tachy[0]!.count >= 17).toBe(true);
  });

  it('repeats the sequence every cycle and reports episodes of later cycles too', () => {
    const scenario = clinicalBasicsScenario({ normalMs: 20_000, bradyMs: 10_000, tachyMs: 10_000, asystoleMs: 5000 });
    const { beats, timeline } = generate(scenario, 2 * scenario.cycleMs!, 3);
    const truth = timeline.groundTruth(T0 + 2 * scenario.cycleMs!);
    expect(truth.map((e) => e.kind)).toEqual(['extreme_brady', 'extreme_tachy', 'asystole', 'extreme_brady', 'extreme_tachy', 'asystole']);
    const beatTimes = new Set(beats.map((b) => b.tMs));
    expect(truth.every((e) => beatTimes.has(e.onsetMs) && e.endMs !== null && beatTimes.has(e.endMs))).toBe(true);
  });

  it('shifts a repeating scenario by the device offset modulo the cycle, so the shifted device still starts with episodes', () => {
    const scenario = clinicalBasicsScenario(); // cycle 286 s: brady at 60 s, tachy at 140 s, asystole at 220 s
    const timeline = new ScenarioTimeline({ deviceId: 'dev-9', seed: 9, t0Ms: T0, scenario, scenarioOffsetMs: 200_000 + 3 * 286_000 });
    const beats: TimedBeat[] = [];
    for (const b of timeline.beats()) {
      if (b.tMs >= T0 + 330_000) break;
      beats.push(b);
    }
    // previous cycle shifted to start at −86 s: its brady (−26 s) is left out, tachy at 54 s and asystole at 134 s stay; next brady at 260 s
    const truth = timeline.groundTruth(T0 + 330_000);
    expect(truth.map((e) => e.kind)).toEqual(['extreme_tachy', 'asystole', 'extreme_brady']);
    expect(truth.map((e) => e.onsetMs - T0 >= [54_000, 134_000 - 1300, 260_000][truth.indexOf(e)]!)).toEqual([true, true, true]);
    expect(runs(beats, (rr) => rr < 60_000 / 140)[0]!.first).toBe(truth[0]!.onsetMs);
  });

  it('leaves the end of an episode still running at the end of the simulated time as null', () => {
    const scenario = parseScenario('{"phases":[{"kind":"normal","durationMs":10000},{"kind":"asystole","durationMs":8000}]}');
    const { timeline } = generate(scenario, 40_000);
    const [truth] = timeline.groundTruth(T0 + 12_000);
    expect(truth).toMatchObject({ deviceId: 'dev-1', kind: 'asystole', onsetMs: expect.any(Number), endMs: null });
  });

  it('loads a scenario file with phases and honours the requested heart rate', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'pb-scenario-'));
    const file = path.join(dir, 'brady.json');
    writeFileSync(file, JSON.stringify({ name: 'brady-only', phases: [{ kind: 'normal', durationMs: 30_000 }, { kind: 'extreme_brady', durationMs: 30_000, hrBpm: 33 }, { kind: 'normal', durationMs: 30_000 }] }));
    const scenario = await resolveScenario(file);
    expect(scenario).toEqual({ name: 'brady-only', episodes: [{ kind: 'extreme_brady', startMs: 30_000, durationMs: 30_000, hrBpm: 33 }] });
    const { beats } = generate(scenario, 90_000);
    const [run] = runs(beats, (rr) => rr > 1500);
    const meanHr = 60_000 / (run!.rr.reduce((s, x) => s + x, 0) / run!.rr.length);
    expect(Math.abs(meanHr - 33)).toBeLessThan(1.5);
  });

  it('loads a scenario file with absolute episode times', async () => {
    const scenario = parseScenario('{"episodes":[{"kind":"asystole","startMs":90000,"durationMs":8000}],"cycleMs":300000}', 'x.json');
    expect(scenario).toEqual({ name: 'x.json', episodes: [{ kind: 'asystole', startMs: 90_000, durationMs: 8000 }], cycleMs: 300_000 });
  });

  it.each([
    ['not json', 'it is not JSON'],
    ['{"phases":[{"kind":"svt","durationMs":1000}]}', 'phases.0.kind'],
    ['{"phases":[{"kind":"extreme_brady","durationMs":1000,"hrBpm":45}]}', 'needs hrBpm from 20 to under 40, got 45'],
    ['{"episodes":[{"kind":"asystole","startMs":10000,"durationMs":8000},{"kind":"extreme_tachy","startMs":15000,"durationMs":8000}]}', 'starts before the previous episode ends'],
    // Was left out without a word (no episode, no ground truth) until session 32.
    ['{"phases":[{"kind":"normal","durationMs":8000},{"kind":"pause","durationMs":3400}]}', 'episode 1 (pause) starts at 8000 ms: episodes need 10000 ms of normal rhythm before them'],
    ['{"episodes":[{"kind":"asystole","startMs":0,"durationMs":3500}]}', 'must last at least 4000 ms (the asystole criterion; a shorter silence is a pause)'],
    ['{"phases":[{"kind":"pause","durationMs":4000}]}', 'must last under 4000 ms (longer is an asystole)'],
    ['{"phases":[{"kind":"pause","durationMs":2999}]}', 'must last at least 3000 ms'],
    ['{"phases":[{"kind":"brady","durationMs":20000,"hrBpm":50}]}', 'needs hrBpm above 40 to under 50, got 50'],
    ['{"phases":[{"kind":"tachy","durationMs":20000,"hrBpm":140}]}', 'needs hrBpm above 120 to under 140, got 140'],
    ['{"phases":[{"kind":"afib","durationMs":60000,"hrBpm":130}]}', 'needs hrBpm from 60 up to 110, got 130'],
    ['{"phases":[{"kind":"afib","durationMs":29999}]}', 'must last at least 30000 ms'],
    ['{"phases":[{"kind":"vt","durationMs":1000}]}', 'must last at least 2040 ms for 5 ventricular beats'],
    ['{"phases":[{"kind":"vt","durationMs":10000,"beats":4}]}', 'needs beats from 5 to 1000, got 4'],
    ['{"phases":[{"kind":"nsvt","durationMs":3000,"beats":5}]}', 'needs beats from 1 to 4, got 5'],
    ['{"phases":[{"kind":"brady","durationMs":20000,"backlog":false}]}', 'takes no backlog'],
    ['{"phases":[{"kind":"lead_off","durationMs":20000,"hrBpm":60}]}', 'takes no hrBpm'],
    ['{"phases":[{"kind":"signal_loss","durationMs":20000,"reversed":true}]}', 'takes no reversed (only lead_off does)'],
    ['{"phases":[{"kind":"extreme_tachy","durationMs":6000}]}', 'for the 17 consecutive beats of the extreme_tachy criterion'],
  ])('rejects the scenario %s with a sentence naming the problem', (text, fragment) => {
    expect(() => parseScenario(text, 's.json')).toThrowError(expect.objectContaining({ code: 'PB_SIM_FAILED', message: expect.stringContaining(fragment) }));
  });

  it('takes a lead_off of any length (under the 10 s alarm delay it is a distractor) and a patch put back turned (reversed)', () => {
    expect(parseScenario('{"phases":[{"kind":"normal","durationMs":60000},{"kind":"lead_off","durationMs":3000,"reversed":true}]}', 's.json').episodes).toEqual([
      { kind: 'lead_off', startMs: 60_000, durationMs: 3000, reversed: true },
    ]);
  });

  it('reports a missing scenario file clearly', async () => {
    await expect(loadScenarioFile('/nonexistent/s.json')).rejects.toMatchObject({ code: 'PB_SIM_FAILED', message: expect.stringMatching(/^Scenario \/nonexistent\/s\.json is invalid: the file could not be read/) });
  });
});
