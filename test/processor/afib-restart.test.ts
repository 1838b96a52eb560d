/**
 * AF across a processor restart or partition move (afib-replay.ts): while an AF alarm waits — the
 * irregular stretch timed towards the 30 s criterion, or an open episode that is ending — the
 * changelog record carries the AF detector's recent inputs, and the successor replays them. The
 * alarm is then raised at the same frame with the same onset, and ended at the same frame with
 * the same end, as without the restart. Before: a restart 5–35 s into the AF raised it up to 35 s
 * late with its onset dated up to 35 s late; a 47 s episode with a restart 15–30 s into it was
 * never alarmed; a restart while the end was being confirmed kept the alert open 180 s longer,
 * ended at an estimated time. StreamRuntime directly (its record through JSON, as on the bus),
 * with firmware beats, with firmware beats and ECG (the P-wave evidence decides), and from an
 * ECG-only device (the processor derives the beats).
 */
import { describe, expect, it } from 'vitest';
import { DEFAULT_CRITERIA_VERSION, type CriteriaVersion } from '../../contracts/criteria.ts';
import type { TelemetryFrame } from '../../contracts/telemetry.ts';
import { AfRrModel } from '../../device-sim/afib-rr.ts';
import { syntheticEcgSource } from '../../device-sim/ecg-synth.ts';
import type { TimedBeat } from '../../device-sim/frames.ts';
import { createPrng, uniform } from '../../device-sim/prng.ts';
import { simDeviceFrames } from '../../eval/sim-device-replay.ts';
import { scenarioFromPhases } from '../../device-sim/scenario.ts';
import { parsePendingAfib } from '../../processor/detectors/afib-replay.ts';
import { parseStreamState } from '../../processor/stream-state.ts';
import { StreamRuntime, type StreamRuntimeOptions } from '../../processor/stream-runtime.ts';
import { beats, frames, iso, T0 } from './helpers.ts';

/**
 * Without the AF alarm's off-delay (afib.ts `offDelayMs`): these cases restart the detector's own
 * onset and end (100 s of rhythm after the AF; the off-delay holds the end for 2 min after it) —
 * the off-delay across a restart is the last describe below.
 */
const NO_OFF_DELAY: CriteriaVersion = { ...DEFAULT_CRITERIA_VERSION, alarms: { ...DEFAULT_CRITERIA_VERSION.alarms, afib: { ...DEFAULT_CRITERIA_VERSION.alarms.afib, offDelayMs: 0 } } };
const OPTIONS: StreamRuntimeOptions = { patientId: 'p1', deviceId: 'd1', criteriaAt: () => NO_OFF_DELAY, ecgStrips: false };

/** 40 s at 75/min, AF-like intervals (independent, uniform 400–900 ms) until `afEndS`, then 75/min for `afterS`. */
function afLike(seed: number, afEndS: number, afterS = 100): TimedBeat[] {
  const list: TimedBeat[] = beats(T0, [{ rrMs: 800, count: 50 }]);
  let t = list.at(-1)!.tMs;
  const random = createPrng(seed);
  while (t < T0 + afEndS * 1000) list.push({ tMs: (t += Math.round(uniform(random, 400, 900))), cls: 'N', af: true });
  for (let i = 0; i < afterS / 0.8; i++) list.push({ tMs: (t += 800), cls: 'N' });
  return list;
}

/** The simulator's AF (afib-rr.ts, 110/min) between two stretches of sinus rhythm at ≈ 75/min, beats with `af` marked for the ECG. */
function simulatedAf(seed: number): TimedBeat[] {
  const random = createPrng(seed);
  const list: TimedBeat[] = [];
  let t = T0 + 500;
  for (const end = t + 40_000; t < end; t += 780 + Math.round(random() * 40)) list.push({ tMs: t, cls: 'N' });
  const model = new AfRrModel(random, { meanHrBpm: 110, tailMeanMs: 140 });
  for (const end = t + 90_000; t < end; t += model.next()) list.push({ tMs: Math.round(t), cls: 'N', af: true });
  for (const end = t + 100_000; t < end; t += 780 + Math.round(random() * 40)) list.push({ tMs: Math.round(t), cls: 'N' });
  return list;
}

const durationOf = (list: TimedBeat[]) => list.at(-1)!.tMs - T0 + 1000;
const firmware = (list: TimedBeat[]) => frames(list, durationOf(list));
const firmwareWithEcg = (list: TimedBeat[], seed: number) => frames(list, durationOf(list), { ecg: syntheticEcgSource(seed, 250), ecgFsHz: 250 });
const ecgOnly = (list: TimedBeat[], seed: number) => firmwareWithEcg(list, seed).map((f) => ({ ...f, beats: [], hr: 0 }));

interface Restart { after: number; redeliverFrom?: number }

/** What the stream published of AF: each alert's raising and ending frame, onset and end (s after T0), and how many ids. */
function afAlarms(list: TelemetryFrame[], restart?: Restart, options: StreamRuntimeOptions = OPTIONS): { raised: string[]; ended: string[]; ids: number } {
  const raised: string[] = [];
  const ended: string[] = [];
  const ids = new Set<string>();
  let rt = new StreamRuntime(options);
  const seconds = (isoTime: string) => (Date.parse(isoTime) - T0) / 1000;
  const feed = (fs: TelemetryFrame[], at: (i: number) => number) => {
    for (const [i, f] of fs.entries()) {
      for (const a of rt.ingest(f, iso(f.ts + f.durMs)).alerts) {
        if (a.kind !== 'afib') continue;
        ids.add(a.id);
        if (a.revision === 1) raised.push(`frame ${at(i)}: onset ${seconds(a.onset)}`);
        if (a.end !== undefined && !ended.some((e) => e.endsWith(`end ${seconds(a.end!)}`))) ended.push(`frame ${at(i)}: end ${seconds(a.end)}`);
      }
    }
  };
  if (!restart) {
    feed(list, (i) => i);
    return { raised, ended, ids: ids.size };
  }
  feed(list.slice(0, restart.after + 1), (i) => i);
  const json = JSON.stringify(rt.record('a', 0));
  rt = StreamRuntime.restore(options, parseStreamState(JSON.parse(json))!);
  feed(list.slice(restart.redeliverFrom ?? restart.after + 1, restart.after + 1), () => restart.after);
  feed(list.slice(restart.after + 1), (i) => restart.after + 1 + i);
  return { raised, ended, ids: ids.size };
}

/** The frame of a published entry. */
const frameOf = (entry: string) => Number(/frame (\d+)/.exec(entry)![1]);

/** The frames after which the stream's record carries the AF detector's inputs (an AF alarm waits). */
function pendingFrames(list: TelemetryFrame[], options: StreamRuntimeOptions = OPTIONS): number[] {
  const rt = new StreamRuntime(options);
  const out: number[] = [];
  for (const [i, f] of list.entries()) {
    rt.ingest(f, iso(f.ts + f.durMs));
    if (rt.record('a', 0).pending?.some((p) => p.kind === 'afib')) out.push(i);
  }
  return out;
}

describe('AF across a processor restart', () => {
  const cases: { name: string; list: TelemetryFrame[]; afStartS: number; ecg: boolean }[] = [
    { name: 'firmware beats, 150 s of AF', list: firmware(afLike(1, 190)), afStartS: 40, ecg: false },
    { name: 'firmware beats, a 47 s AF episode', list: firmware(afLike(2, 87)), afStartS: 40, ecg: false },
    { name: 'firmware beats and ECG (P-wave evidence), the simulator\'s AF', list: firmwareWithEcg(simulatedAf(3), 3), afStartS: 40, ecg: true },
    { name: 'an ECG-only device (beats from the processor\'s QRS detector), the simulator\'s AF', list: ecgOnly(simulatedAf(4), 4), afStartS: 40, ecg: true },
  ];
  for (const c of cases) {
    const reference = afAlarms(c.list);
    it(`${c.name}: the reference raises one AF alarm near the AF's start and ends it`, () => {
      expect(reference.raised).toHaveLength(1);
      expect(reference.ended).toHaveLength(1);
      expect(reference.ids).toBe(1);
      const onsetS = Number(/onset ([\d.]+)/.exec(reference.raised[0]!)![1]);
      expect(Math.abs(onsetS - c.afStartS)).toBeLessThanOrEqual(8);
    });

    const pending = pendingFrames(c.list);
    const raisedAt = frameOf(reference.raised[0]!);
    const endedAt = frameOf(reference.ended[0]!);
    const endS = Number(/end ([\d.]+)/.exec(reference.ended[0]!)![1]);
    /** The pending frames from `fromFrame` up to `toFrame` (excluded). */
    const pendingBetween = (fromFrame: number, toFrame: number) => pending.filter((i) => i >= fromFrame && i < toFrame);
    const range = (fromFrame: number, toFrame: number) => Array.from({ length: Math.max(0, toFrame - fromFrame) }, (_, k) => fromFrame + k);
    /** Restarts while the alarm is timed: from 10 s into the AF (the test below) to the alarm. */
    const timedRestarts = range(c.afStartS + 10, raisedAt);
    /** Restarts while the open episode is kept: from 12 s after the AF's end to its end's publication, and its odd kept frames inside the AF. */
    const endingRestarts = [...pendingBetween(raisedAt, Math.floor(endS)), ...range(Math.floor(endS) + 12, endedAt)];

    it(`${c.name}: the record carries the AF inputs from a few beats into the AF until the alarm, and from a few beats after it until the end is published`, () => {
      const timed = pendingBetween(c.afStartS, raisedAt);
      // Once the first 8-beat window is irregular (a stretch begins; an ECG-only device's beats
      // come ≈ 1.5 s after their frame), and on every frame after it.
      expect(timed[0]! - c.afStartS).toBeLessThanOrEqual(10);
      expect(timed).toEqual(Array.from({ length: raisedAt - timed[0]! }, (_, k) => timed[0]! + k));
      // Open in full AF: kept only on the odd frame with 4 regular windows in a row (the
      // successor re-detects it). Kept on every frame once the windows turn regular after the AF.
      expect(pendingBetween(raisedAt, Math.floor(endS)).length).toBeLessThanOrEqual(5);
      const ending = pendingBetween(Math.floor(endS), endedAt);
      expect(ending[0]! - endS).toBeLessThanOrEqual(12);
      expect(ending).toEqual(Array.from({ length: endedAt - ending[0]! }, (_, k) => ending[0]! + k));
    });

    it(`${c.name}: a restart after any frame while the alarm is timed raises it at the same frame with the same onset`, () => {
      expect(timedRestarts.length).toBeGreaterThanOrEqual(15);
      for (const after of timedRestarts) {
        for (const redeliverFrom of [undefined, after - 1, after - 5]) {
          const got = afAlarms(c.list, { after, ...(redeliverFrom !== undefined ? { redeliverFrom } : {}) });
          expect([after, redeliverFrom, got]).toEqual([after, redeliverFrom, reference]);
        }
      }
    });

    // Before the AF detector took Detector.continueOpen (session 24) it needed 30 s of AF to
    // re-detect an open alert it was not handed: with less left, the alert ended 180 s later at the
    // restart's position. With ECG the successor now follows the reference exactly; on RR alone its
    // fresh averagers place the end a few seconds differently, and it needs ≈ 20 beats of AF to
    // re-detect (restarts in the AF's last ≈ 15 s still end 180 s later: EVALUATION.md §3).
    if (endS - raisedAt >= 40) {
      it(`${c.name}: a restart in full AF with 15–25 s of it left (the open episode not kept): the successor re-detects the alert and ends it ${c.ecg ? 'as the reference does' : 'within 8 s of the reference, published at most 15 frames before or 10 after it'}`, () => {
        const inFullAf = range(Math.floor(endS) - 25, Math.floor(endS) - 15).filter((i) => !pending.includes(i));
        expect(inFullAf.length).toBeGreaterThanOrEqual(8);
        for (const after of inFullAf) {
          const got = afAlarms(c.list, { after });
          if (c.ecg) {
            expect([after, got]).toEqual([after, reference]);
            continue;
          }
          expect([after, got.raised, got.ids, got.ended.length]).toEqual([after, reference.raised, 1, 1]);
          const gotEndS = Number(/end ([\d.]+)/.exec(got.ended[0]!)![1]);
          // Published within 10 frames after the reference's, or up to 15 before: the successor's
          // averagers hold only the beats since the restart, weighted as their mean (rr-irregularity.ts
          // warm-up), so its decision leaves AF up to 11 beats sooner (same end; session 37).
          const publishedOffset = frameOf(got.ended[0]!) - endedAt;
          expect([after, Math.abs(gotEndS - endS) <= 8, publishedOffset <= 10 && publishedOffset >= -15]).toEqual([after, true, true]);
        }
      });
    }

    it(`${c.name}: a restart after any frame while the open episode is kept (ending, or a few regular windows inside the AF) ends it at the same frame at the same end, one alert${c.ecg ? ' — with ECG, but for restarts in the last beats of the AF, where the end may come up to 1.5 s and 3 frames earlier' : ''}`, () => {
      expect(endingRestarts.length).toBeGreaterThanOrEqual(15);
      const nearly: number[] = [];
      for (const after of endingRestarts) {
        for (const redeliverFrom of [undefined, after - 3]) {
          const got = afAlarms(c.list, { after, ...(redeliverFrom !== undefined ? { redeliverFrom } : {}) });
          // With ECG the end is where the P waves come back (afib.ts #pWavesBack), read over the
          // P-wave meter's 12-beat group; the meter's ECG is not handed over, so a successor that
          // takes over in the AF's last beats reads the return from a partial group, a beat or two
          // earlier. Everywhere else, and always without ECG, the same frame and end.
          if (c.ecg && after < endS && JSON.stringify(got) !== JSON.stringify(reference)) {
            expect([after, got.raised, got.ids]).toEqual([after, reference.raised, 1]);
            expect(got.ended).toHaveLength(1);
            const [gotFrame, refFrame] = [frameOf(got.ended[0]!), frameOf(reference.ended[0]!)];
            const gotEndS = Number(/end ([\d.]+)/.exec(got.ended[0]!)![1]);
            expect(Math.abs(gotEndS - endS)).toBeLessThanOrEqual(1.5);
            expect(Math.abs(gotFrame - refFrame)).toBeLessThanOrEqual(3);
            nearly.push(after);
            continue;
          }
          expect([after, redeliverFrom, got]).toEqual([after, redeliverFrom, reference]);
        }
      }
      expect(nearly.length).toBeLessThanOrEqual(2);
    });
  }

  it('frames lost at the restart end the timed stretch, as they would for one processor', () => {
    // Frames 61 and 62 (21–22 s into the AF) never arrive: the measure starts again after them.
    const list = firmware(afLike(1, 190)).filter((_, i) => i !== 61 && i !== 62);
    const oneProcessor = afAlarms(list);
    expect(Number(/onset ([\d.]+)/.exec(oneProcessor.raised[0]!)![1])).toBeGreaterThan(62);
    expect(afAlarms(list, { after: 60 })).toEqual(oneProcessor);
  });

  it('the record stays small: the inputs of a 150 s AF stretch without ECG are a few kB', () => {
    const list = firmware(afLike(1, 190));
    let rt = new StreamRuntime(OPTIONS);
    for (const f of list.slice(0, 70)) rt.ingest(f, iso(f.ts + f.durMs));
    const record = rt.record('a', 0);
    const afib = record.pending?.find((p) => p.kind === 'afib');
    expect(afib).toBeDefined();
    expect(JSON.stringify(afib).length).toBeLessThan(4000);
    rt = StreamRuntime.restore(OPTIONS, parseStreamState(JSON.parse(JSON.stringify(record)))!);
    expect(rt.record('a', 0).pending?.find((p) => p.kind === 'afib')).toEqual(afib);
  });
});

describe('AF across a restart just after a mild AF\'s stretch was dropped', async () => {
  // A device of the fault suite's case 3c (test/faults/processor-kill-af.fault.test.ts: 30 s of
  // sinus rhythm, 60 s of the simulator's AF at 110/min), run seed "sw64", rebuilt offline. Its AF
  // is mild: the first stretch is dropped 19 s into the AF after 16 regular windows, and the next
  // irregular window starts the stretch that is alarmed, back-dated before the drop. Before the
  // AF detector kept its inputs without a stretch (afib.ts RECENT_IRREGULAR_WINDOWS), a restart
  // in those seconds left a successor without those windows: onset 3–4 s later.
  const { frames: list } = await simDeviceFrames({
    deviceId: 'fsw64-3c-processor-kill-af-d0', index: 0, runSeed: 'sw64', staggerMs: 0, t0Ms: Date.parse('2026-12-06T07:01:00Z'), devices: 4,
    scenario: scenarioFromPhases('3c', [{ kind: 'normal', durationMs: 30_000 }, { kind: 'afib', durationMs: 60_000, hrBpm: 110 }, { kind: 'normal', durationMs: 30_000 }]),
    speed: 2, durationMs: 120_000, ecgOnly: false, paced: false,
  });
  const reference = afAlarms(list);
  /** Frames 48–50: 19–21 s into the AF (it starts at frame 30). */
  const afterDrop = [48, 49, 50];

  it('the reference raises one AF alarm; after the drop the record carries the AF inputs without a stretch', () => {
    expect(reference.raised).toHaveLength(1);
    const rt = new StreamRuntime(OPTIONS);
    const stretchless: number[] = [];
    for (const [i, f] of list.entries()) {
      rt.ingest(f, iso(f.ts + f.durMs));
      const afib = rt.record('a', 0).pending?.find((p) => p.kind === 'afib');
      if (afib && parsePendingAfib(afib.state)?.state.stretch === null) stretchless.push(i);
    }
    expect(stretchless).toContain(48);
  });

  it('a restart after each of those frames raises the same alarm at the same frame with the same onset', () => {
    for (const after of afterDrop) expect([after, afAlarms(list, { after })]).toEqual([after, reference]);
  });
});

describe('the AF off-delay across a restart (afib.ts offDelayMs: one alarm for paroxysms separated by a short break)', () => {
  const WITH_OFF_DELAY: StreamRuntimeOptions = { ...OPTIONS, criteriaAt: () => DEFAULT_CRITERIA_VERSION };
  /** 40 s at 75/min, AF-like intervals to 150 s, `breakS` at 75/min, 60 s of AF-like intervals, 200 s at 75/min. */
  function twoParoxysms(seed: number, breakS: number): { list: TimedBeat[]; firstEndS: number } {
    const list: TimedBeat[] = beats(T0, [{ rrMs: 800, count: 50 }]);
    let t = list.at(-1)!.tMs;
    const random = createPrng(seed);
    const af = (ms: number) => { for (const end = t + ms; t < end;) list.push({ tMs: (t += Math.round(uniform(random, 400, 900))), cls: 'N', af: true }); };
    const sinus = (ms: number) => { for (let i = 0; i < ms / 800; i++) list.push({ tMs: (t += 800), cls: 'N' }); };
    af(T0 + 150_000 - t);
    const firstEndS = (t - T0) / 1000;
    sinus(breakS * 1000);
    af(60_000);
    sinus(200_000);
    return { list, firstEndS };
  }
  const { list: beatList, firstEndS } = twoParoxysms(5, 45);
  const list = firmware(beatList);
  const reference = afAlarms(list, undefined, WITH_OFF_DELAY);

  it('AF, 45 s of sinus rhythm, AF: one alarm with the off-delay (two without, the first with the same onset at the same frame), ended 2 min after the last AF beat', () => {
    const without = afAlarms(list);
    expect(without.raised).toHaveLength(2);
    expect(reference.raised).toEqual([without.raised[0]]);
    expect(reference.ended).toHaveLength(1);
    expect(reference.ids).toBe(1);
    // The end is the second paroxysm's (without the off-delay its alarm's end), dated at its last AF beat.
    const endS = (e: string) => Number(/end ([\d.]+)/.exec(e)![1]);
    expect(endS(reference.ended[0]!)).toBe(endS(without.ended[1]!));
    expect(frameOf(reference.ended[0]!) + 1).toBeGreaterThanOrEqual(endS(reference.ended[0]!) + 120); // published at the frame's end
  });

  it('a restart after every third frame from the first paroxysm\'s end to the end\'s publication keeps one alarm: where the record carries the AF state (the off-delay, the second paroxysm timed or ending) the same end at the same frame; in full AF (not kept, re-detected) the end near the reference\'s', () => {
    const endedAt = frameOf(reference.ended[0]!);
    const kept = new Set(pendingFrames(list, WITH_OFF_DELAY));
    const restarts: number[] = [];
    for (let after = Math.ceil(firstEndS) + 1; after < endedAt; after += 3) restarts.push(after);
    expect(restarts.length).toBeGreaterThanOrEqual(60);
    // Kept from the first paroxysm's end to the second one's alarm (off-delay), and from the second one's end to the publication.
    expect(restarts.filter((after) => kept.has(after)).length).toBeGreaterThanOrEqual(50);
    const endS = (e: string) => Number(/end ([\d.]+)/.exec(e)![1]);
    for (const after of restarts) {
      for (const redeliverFrom of [undefined, after - 3]) {
        const got = afAlarms(list, { after, ...(redeliverFrom !== undefined ? { redeliverFrom } : {}) }, WITH_OFF_DELAY);
        if (kept.has(after)) {
          expect([after, redeliverFrom, got]).toEqual([after, redeliverFrom, reference]);
          continue;
        }
        // In full AF the successor's fresh averagers place the end a little differently (as without
        // the off-delay, above). With less than 25 s of AF left it re-detects the alert from few
        // beats: the end may come earlier, down to the restart's position (not re-detected: the
        // lifecycle ends it there 180 s later) — the known limit without the off-delay too
        // (EVALUATION.md §3); never more than 8 s later than the reference's.
        expect([after, got.raised, got.ids, got.ended.length]).toEqual([after, reference.raised, 1, 1]);
        const [gotEndS, refEndS] = [endS(got.ended[0]!), endS(reference.ended[0]!)];
        const ok = refEndS - after >= 25 ? Math.abs(gotEndS - refEndS) <= 8 && Math.abs(frameOf(got.ended[0]!) - endedAt) <= 10 : gotEndS >= after && gotEndS <= refEndS + 8;
        expect([after, redeliverFrom, ok, JSON.stringify(got)]).toEqual([after, redeliverFrom, true, JSON.stringify(got)]);
      }
    }
  });
});
