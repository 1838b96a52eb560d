/**
 * A graceful hand-over carries the whole state of the brady/tachy, extreme brady/tachy, VT,
 * asystole and pause detectors (issue 12 session 27; limit-rate.ts format 3, consecutive-rate.ts,
 * vt.ts and silence.ts format 2) and the technical conditions' running delays (a lead-off),
 * so a successor raises, updates and ends their alerts at the same frames as a processor that never
 * stopped. Before, these detectors handed over their regular pending state only: the sudden-onset
 * references of brady/tachy (the 8 intervals before a run, the prevailing interval) were lost, so a
 * sudden bradycardia starting within seconds of a stop waited the 2 min gradual delay instead of
 * 30 s; an ECG-only VT run, the open episode and the 4 s waveform window were judged afresh; an
 * open extreme tachycardia ended with the evidence of the beats the successor had seen; an open
 * asystole ended with a gap measured from where the successor began; and a lead-off in its first
 * 10 s was alarmed up to 10 s late.
 * StreamRuntime directly, its hand-over record through JSON as on the bus.
 */
import { describe, expect, it } from 'vitest';
import { DEFAULT_CRITERIA_VERSION } from '../../contracts/criteria.ts';
import type { TelemetryFrame } from '../../contracts/telemetry.ts';
import { syntheticEcgSource } from '../../device-sim/ecg-synth.ts';
import { parseStreamState, type StreamStateRecord } from '../../processor/stream-state.ts';
import { StreamRuntime, type StreamRuntimeOptions } from '../../processor/stream-runtime.ts';
import { handoverAsBefore } from '../../bench/handover-as-before.ts';
import { beats, frames, iso, T0, type Segment } from './helpers.ts';

const OPTIONS: StreamRuntimeOptions = { patientId: 'p1', deviceId: 'd1', criteriaAt: () => DEFAULT_CRITERIA_VERSION, ecgStrips: false };

/** What one frame produced: alerts and derived beat frames, comparable. */
function outputs(rt: StreamRuntime, f: TelemetryFrame): string {
  const r = rt.ingest(f, iso(f.ts + f.durMs));
  return JSON.stringify([r.alerts, r.ecgBeatFrames.map((d) => [d.ts, d.durMs, d.beats])]);
}

/**
 * Hand-overs after each frame in [fromMs, toMs) of an uninterrupted run: the frames (from the
 * first after it, `horizon` of them) whose outputs differ from the uninterrupted run's, per
 * hand-over; `before`: from the record as session 26 wrote it.
 */
function sweep(list: TelemetryFrame[], fromMs: number, toMs: number, horizon: number, before = false): { handovers: number; differ: number; kinds: Set<string> } {
  const rt = new StreamRuntime(OPTIONS);
  const reference: string[] = [];
  const records = new Map<number, string>();
  for (const [i, f] of list.entries()) {
    reference.push(outputs(rt, f));
    if (f.ts >= fromMs && f.ts < toMs) records.set(i, JSON.stringify(rt.record('p', 0, { handover: true })));
  }
  let differ = 0;
  const kinds = new Set<string>();
  for (const [after, json] of records) {
    const record = parseStreamState(JSON.parse(json))!;
    const successor = StreamRuntime.restore(OPTIONS, before ? handoverAsBefore(record) : record);
    for (let j = after + 1; j < Math.min(list.length, after + 1 + horizon); j++) {
      const out = outputs(successor, list[j]!);
      if (out !== reference[j]) {
        differ++;
        for (const a of JSON.parse(reference[j]!)[0] as { kind: string }[]) kinds.add(a.kind);
        break;
      }
    }
  }
  return { handovers: records.size, differ, kinds };
}

describe('a graceful hand-over of the limit-rate detectors (firmware beats)', () => {
  // 4 min at 75/min, then a sudden drop to 45/min (a block: 30 s alarm delay) for 3 min, then 75/min.
  const segments: Segment[] = [{ rrMs: 800, count: 300 }, { rrMs: 1333, count: 135 }, { rrMs: 800, count: 150 }];
  const timeline = beats(T0, segments);
  const dropMs = timeline[300]!.tMs;
  const list = frames(timeline, 540_000);

  it('a sudden bradycardia starting within 10 s after the hand-over: the same alert at the same frame, its end too', () => {
    const now = sweep(list, dropMs - 10_000, dropMs + 2_000, 420);
    expect(now).toMatchObject({ handovers: 12, differ: 0 });
    // (So the comparison can fail: the regular state alone loses the 8 intervals before the run.)
    const before = sweep(list, dropMs - 10_000, dropMs + 2_000, 420, true);
    expect(before.differ).toBeGreaterThan(3);
    expect(before.kinds).toContain('brady');
  });
});

describe('a graceful hand-over inside an open asystole or a lead-off not yet alarmed (firmware beats)', () => {
  // 1 min at 75/min, 12 s without a beat (an asystole, open for 8 s), 1 min at 75/min; the electrodes
  // off for 15 s from 150 s (a lead-off alarm after 10 s).
  const timeline = beats(T0, [{ rrMs: 800, count: 75 }, { rrMs: 12_800, count: 1 }, { rrMs: 800, count: 120 }]);
  const silenceFromMs = timeline[74]!.tMs;
  const leadOffFromMs = T0 + 150_000;
  const list = frames(timeline, 200_000, { leadOff: [{ startMs: leadOffFromMs, endMs: leadOffFromMs + 15_000 }] });

  it('an open asystole: the same updates and the same end, with its evidence, for a hand-over at every frame of it', () => {
    expect(sweep(list, silenceFromMs + 4_000, silenceFromMs + 12_000, 30)).toMatchObject({ handovers: 8, differ: 0 });
    // (So the comparison can fail: the regular state does not carry an open silence; the successor continued it from its own start.)
    const before = sweep(list, silenceFromMs + 4_000, silenceFromMs + 12_000, 30, true);
    expect(before.kinds).toContain('asystole');
  });

  it('a lead-off in its first 10 s: its alarm at the same frame', () => {
    expect(sweep(list, leadOffFromMs, leadOffFromMs + 9_000, 20)).toMatchObject({ handovers: 9, differ: 0 });
    const before = sweep(list, leadOffFromMs, leadOffFromMs + 9_000, 20, true);
    expect(before).toMatchObject({ differ: 9 });
    expect(before.kinds).toContain('lead_off');
  });

  it('a malformed running delay in the record is skipped: the lead-off alarm counts from the successor\'s first frame, as before', () => {
    const rt = new StreamRuntime(OPTIONS);
    const after = list.findIndex((f) => f.ts >= leadOffFromMs + 3_000);
    for (const f of list.slice(0, after + 1)) rt.ingest(f, iso(f.ts + f.durMs));
    const record = JSON.parse(JSON.stringify(rt.record('p', 0, { handover: true })));
    expect(record.technicalSince).toEqual([{ kind: 'lead_off', sinceMs: leadOffFromMs }]);
    for (const garbage of ['garbage', 7, { kind: 'lead_off' }, [{ kind: 'lead_off', sinceMs: 'x' }], [null]]) {
      const successor = StreamRuntime.restore(OPTIONS, parseStreamState({ ...record, technicalSince: garbage })!);
      const raised = list.slice(after + 1, after + 20).flatMap((f) => successor.ingest(f, iso(f.ts + f.durMs)).alerts.filter((a) => a.kind === 'lead_off' && a.revision === 1).map(() => f.ts));
      // 10 s from the successor's first frame (4 s into the lead-off): in the frame ending 14 s in, not 10 s in.
      expect(raised).toEqual([leadOffFromMs + 13_000]);
    }
  });
});

describe('the hand-over record in a rolling deploy (processors of two versions)', () => {
  it('carries each detector\'s regular state first, and its whole state as a second entry of the kind that an older processor ignores', () => {
    // 2 min at 75/min, then 45/min: a brady run whose alarm delay is running at the hand-over.
    const list = frames(beats(T0, [{ rrMs: 800, count: 150 }, { rrMs: 1333, count: 30 }]), 160_000);
    const rt = new StreamRuntime(OPTIONS);
    for (const f of list.slice(0, 130)) rt.ingest(f, iso(f.ts + f.durMs));
    const pending = parseStreamState(JSON.parse(JSON.stringify(rt.record('p', 0, { handover: true }))))!.pending!;
    const brady = pending.filter((p) => p.kind === 'brady').map((p) => p.state.v);
    expect(brady).toEqual([1, 3]);
    for (const kind of ['tachy', 'extreme_brady', 'extreme_tachy', 'vt']) {
      const versions = pending.filter((p) => p.kind === kind).map((p) => p.state.v);
      // (Nothing pending for these: only the whole state.)
      expect(versions).toEqual([kind === 'tachy' ? 3 : 2]);
    }
    // The silence detectors keep the beat a silence counts from at a hand-over (format 1, session 25), then their whole state.
    expect(pending.filter((p) => p.kind === 'asystole').map((p) => p.state.v)).toEqual([1, 2]);
    // The regular record of the same moment is what session 26 wrote at a hand-over for these detectors.
    const kinds = ['brady', 'tachy', 'extreme_brady', 'extreme_tachy', 'vt'];
    const regular = parseStreamState(JSON.parse(JSON.stringify(rt.record('p', 0))))!.pending!.filter((p) => kinds.includes(p.kind));
    expect(handoverAsBefore({ ...parseStreamState(JSON.parse(JSON.stringify(rt.record('p', 0, { handover: true }))))!, ecgBeats: undefined }).pending!.filter((p) => kinds.includes(p.kind))).toEqual(regular);
  });
});

describe('a hand-over followed by frames the stopped processor had analysed (a batch it had not committed)', () => {
  it('the detectors take up their regular state instead, so no beat is counted twice: one bradycardia and one extreme bradycardia alert each, with the uninterrupted onsets', () => {
    // 2 min at 75/min, then 35/min (extreme brady and brady) for 60 s, then 75/min.
    const timeline = beats(T0, [{ rrMs: 800, count: 150 }, { rrMs: 1714, count: 35 }, { rrMs: 800, count: 100 }]);
    const list = frames(timeline, 260_000);
    const onsets = (rt: StreamRuntime, part: TelemetryFrame[]) => part.flatMap((f) => rt.ingest(f, iso(f.ts + f.durMs)).alerts).filter((a) => a.revision === 1).map((a) => `${a.kind}@${a.onset}`);
    const reference = onsets(new StreamRuntime(OPTIONS), list);
    expect(reference.sort()).toEqual(expect.arrayContaining([expect.stringMatching(/^brady@/), expect.stringMatching(/^extreme_brady@/)]));
    const dropIndex = list.findIndex((f) => f.ts >= timeline[150]!.tMs);
    for (const after of [dropIndex + 3, dropIndex + 6, dropIndex + 40]) {
      const first = new StreamRuntime(OPTIONS);
      const raised = onsets(first, list.slice(0, after + 1));
      const successor = StreamRuntime.restore(OPTIONS, parseStreamState(JSON.parse(JSON.stringify(first.record('p', 0, { handover: true }))))!);
      // The last 5 frames come again, then the rest.
      raised.push(...onsets(successor, list.slice(after - 4)));
      expect(raised.sort()).toEqual(reference.sort());
    }
  });
});

describe('a graceful hand-over of the VT detector (ECG-only device, beats from the ECG)', () => {
  // 3 min at 75/min, 20 s of VT at 150/min, 2 min at 75/min, 250 Hz synthetic ECG.
  const segments: Segment[] = [{ rrMs: 800, count: 225 }, { rrMs: 400, count: 50, cls: 'V' }, { rrMs: 800, count: 150 }];
  const timeline = beats(T0, segments);
  const vtStartMs = timeline[225]!.tMs;
  const vtEndMs = timeline[275]!.tMs;
  const list = frames(timeline, 330_000, { ecg: syntheticEcgSource(11, 250), ecgFsHz: 250 }).map((f) => ({ ...f, beats: [], hr: 0 }));

  it('a hand-over after every frame from 3 s before the VT to 3 s after it: the same VT alert, updates and end at the same frames', () => {
    const now = sweep(list, vtStartMs - 3_000, vtEndMs + 3_000, 60);
    expect(now).toMatchObject({ handovers: 26, differ: 0 });
    const before = sweep(list, vtStartMs - 3_000, vtEndMs + 3_000, 60, true);
    expect(before.differ).toBeGreaterThan(3);
  });
});
