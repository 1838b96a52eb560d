/**
 * A sustained VT on an ECG-only device (issue 12 session 19). The beat labeller (qrs-morphology.ts)
 * calls a beat `V` when it is unlike the patient's dominant beat, and the dominant beat is the
 * template most beats matched lately. Before this session a VT lasting ≈ 140 beats became the
 * dominant beat: its complexes then read `N`, so its alarm ended while it went on and came back
 * as new alarms (a 3 min VT at 120/min: three alarms, 16 s and 8 s "ended" in between), and the
 * sinus beats after it read `V`, which carried the last alarm on into a sinus tachycardia. Now a
 * fast beat unlike an established dominant beat does not vote: the device raises what the same
 * beats as firmware beats raise. StreamRuntime directly, with 10 min of sinus rhythm first (a
 * patient being monitored, not a stream that starts in the arrhythmia).
 */
import { describe, expect, it } from 'vitest';
import { DEFAULT_CRITERIA_VERSION } from '../../contracts/criteria.ts';
import type { TelemetryFrame } from '../../contracts/telemetry.ts';
import { syntheticEcgSource } from '../../device-sim/ecg-synth.ts';
import { parseStreamState, type StreamStateRecord } from '../../processor/stream-state.ts';
import { StreamRuntime, type StreamRuntimeOptions } from '../../processor/stream-runtime.ts';
import { beats, frames, iso, T0, type Segment } from './helpers.ts';

const OPTIONS: StreamRuntimeOptions = { patientId: 'p1', deviceId: 'd1', criteriaAt: () => DEFAULT_CRITERIA_VERSION, ecgStrips: false };

interface Outcome {
  /** VT alerts: onset and end (device time s after T0; end undefined while open). */
  vt: { onsetS: number; endS: number | undefined }[];
  /** Labels of the beats the processor derived from the ECG, per stretch (ECG-only device). */
  labels: { vt: string; after: string };
}

/** 10 min at 75/min, `vtMs` of VT (class V) at interval `vtRrMs`, then 2 min of sinus at `afterRrMs`. */
/** What happens to the stream inside the VT (device time s after T0). */
interface Disturbance {
  /** These frames never arrive (a hole). */
  lostFramesAtS?: number[];
  /** Electrodes off over [from, to) s. */
  leadOff?: { fromS: number; toS: number };
  /** The processor restarts after the frame starting here (its record through JSON, maybe edited on the way). */
  restartAtS?: number;
  edit?: (r: StreamStateRecord) => StreamStateRecord;
  /** From the frame starting here on, the device samples at another rate (an operator's `config` command). */
  switchFs?: { atS: number; fsHz: number };
}

/** `vtEndMs`: the first beat after the VT. */
function run(vtRrMs: number, afterRrMs: number, ecgOnly: boolean, seed = 9, disturb: Disturbance = {}, sinusBeats = 750): Outcome & { vtStartMs: number; vtEndMs: number; notes: string[]; shapesBytes: number } {
  const segments: Segment[] = [{ rrMs: 800, count: sinusBeats }, { rrMs: vtRrMs, count: Math.round(180_000 / vtRrMs), cls: 'V' }, { rrMs: afterRrMs, count: Math.round(120_000 / afterRrMs) }];
  const timeline = beats(T0, segments);
  const vtStartMs = timeline[sinusBeats]!.tMs;
  const vtEndMs = timeline[sinusBeats + segments[1]!.count]!.tMs;
  const leadOff = disturb.leadOff ? [{ startMs: T0 + disturb.leadOff.fromS * 1000, endMs: T0 + disturb.leadOff.toS * 1000 }] : [];
  const atRate = (fsHz: number) => frames(timeline, vtEndMs - T0 + 125_000, { ecg: syntheticEcgSource(seed, fsHz), ecgFsHz: fsHz, leadOff });
  const switchMs = disturb.switchFs ? T0 + disturb.switchFs.atS * 1000 : Infinity;
  const list: TelemetryFrame[] = [...atRate(250).filter((f) => f.ts < switchMs), ...(disturb.switchFs ? atRate(disturb.switchFs.fsHz).filter((f) => f.ts >= switchMs) : [])]
    .filter((f) => !disturb.lostFramesAtS?.includes((f.ts - T0) / 1000))
    .map((f) => (ecgOnly ? { ...f, beats: [], hr: 0 } : f));
  let rt = new StreamRuntime(OPTIONS);
  const notes: string[] = [];
  let shapesBytes = 0;
  const vt = new Map<string, { onsetS: number; endS: number | undefined }>();
  const labels = { vt: '', after: '' };
  for (const f of list) {
    const r = rt.ingest(f, iso(f.ts + f.durMs));
    for (const a of r.alerts) if (a.kind === 'vt') vt.set(a.id, { onsetS: (Date.parse(a.onset) - T0) / 1000, endS: a.end ? (Date.parse(a.end) - T0) / 1000 : undefined });
    for (const a of r.alerts) if (a.kind === 'vt' && a.evidence.note) notes.push(a.evidence.note);
    for (const b of r.ecgBeatFrames) {
      for (const x of b.beats) {
        const t = b.ts + x.off;
        if (t >= vtStartMs + 1000 && t < vtEndMs - 1000) labels.vt += x.cls;
        else if (t >= vtEndMs + 1000) labels.after += x.cls;
      }
    }
    if (disturb.restartAtS !== undefined && f.ts === T0 + disturb.restartAtS * 1000) {
      const json = JSON.parse(JSON.stringify(rt.record('a', 0))) as StreamStateRecord;
      shapesBytes = JSON.stringify(json.beatShapes ?? '').length;
      const record = parseStreamState(json)!;
      rt = StreamRuntime.restore(OPTIONS, disturb.edit ? disturb.edit(record) : record);
    }
  }
  return { vt: [...vt.values()], labels, vtStartMs, vtEndMs, notes, shapesBytes };
}

const count = (s: string, c: string) => [...s].filter((x) => x === c).length;

describe('a 3 min VT on an ECG-only device after 10 min of sinus rhythm', () => {
  for (const [vtRrMs, afterRrMs, what] of [
    [500, 560, 'VT at 120/min, then a sinus tachycardia at 107/min'],
    [400, 800, 'VT at 150/min, then sinus rhythm at 75/min'],
    [580, 700, 'VT at 103/min (just above the VT rate), then sinus rhythm at 86/min'],
    [250, 700, 'VT at 240/min, then sinus rhythm at 86/min'],
  ] as const) {
    it(`${what}: one VT alarm, ended at the VT's end, as with firmware beats; the beats after it read N`, () => {
      const firmware = run(vtRrMs, afterRrMs, false);
      const ecg = run(vtRrMs, afterRrMs, true);
      expect(firmware.vt).toHaveLength(1);
      expect(ecg.vt).toHaveLength(1);
      // Onset and end within 20 ms of the firmware beats' (the QRS detector's R-peak placement).
      expect(Math.abs(ecg.vt[0]!.onsetS - firmware.vt[0]!.onsetS)).toBeLessThanOrEqual(0.02);
      expect(Math.abs(ecg.vt[0]!.endS! - firmware.vt[0]!.endS!)).toBeLessThanOrEqual(0.02);
      expect(ecg.vt[0]!.endS! * 1000).toBeGreaterThanOrEqual(ecg.vtEndMs - T0 - 20);
      // Every VT complex but at most one reads V, every beat after the VT reads N.
      expect(count(ecg.labels.vt, 'N')).toBeLessThanOrEqual(1);
      expect(ecg.labels.vt.length).toBeGreaterThan(150);
      expect(count(ecg.labels.after, 'V')).toBe(0);
    });
  }
});

describe('a VT in the first minutes of a stream (a patient who puts the patch on, then has a VT)', () => {
  // Before issue 12 session 20 the freeze needed ≈ 140 beats of the dominant beat: a 3 min VT at
  // 120/min after 60 s of sinus rhythm became the dominant beat and raised five VT alarms.
  for (const sinusBeats of [20, 75]) {
    it(`${sinusBeats} beats of sinus rhythm, then a 3 min VT at 120/min: one VT alarm, as with firmware beats (the dominant beat was learned at a normal rate from 15 beats)`, () => {
      const firmware = run(500, 560, false, 9, {}, sinusBeats);
      const ecg = run(500, 560, true, 9, {}, sinusBeats);
      expect(firmware.vt).toHaveLength(1);
      expect(ecg.vt).toHaveLength(1);
      expect(Math.abs(ecg.vt[0]!.endS! - firmware.vt[0]!.endS!)).toBeLessThanOrEqual(0.02);
      expect(count(ecg.labels.vt, 'N')).toBeLessThanOrEqual(1);
      expect(count(ecg.labels.after, 'V')).toBe(0);
    });
  }

  it('a restart inside that VT: the record carries what the dominant beat learned at a normal rate, and the alarm goes on', () => {
    const o = run(500, 560, true, 9, { restartAtS: 120 }, 75);
    expect(o.vt).toHaveLength(1);
    expect(o.notes).toEqual([]);
    expect(count(o.labels.vt, 'N')).toBeLessThanOrEqual(1);
  });
});

describe('the dominant beat is still elected by every beat at the start of a stream', () => {
  it('a stream that starts with an ectopic complex, then a fast rhythm of the patient’s own beats: they read N within a few beats (no freeze before the dominant beat is established)', () => {
    // One ventricular complex, then 90 s of the patient's beats at 125/min (RR 480 ms).
    const timeline = beats(T0, [{ rrMs: 480, count: 1, cls: 'V' }, { rrMs: 480, count: 185 }]);
    const list = frames(timeline, 90_000, { ecg: syntheticEcgSource(4, 250), ecgFsHz: 250 }).map((f) => ({ ...f, beats: [], hr: 0 }));
    const rt = new StreamRuntime(OPTIONS);
    let labels = '';
    const alerts: string[] = [];
    for (const f of list) {
      const r = rt.ingest(f, iso(f.ts + f.durMs));
      alerts.push(...r.alerts.filter((a) => a.kind === 'vt').map((a) => a.id));
      for (const b of r.ecgBeatFrames) labels += b.beats.map((x) => x.cls).join('');
    }
    expect(labels.length).toBeGreaterThan(150);
    expect(count(labels.slice(10), 'V')).toBe(0);
    expect(alerts).toEqual([]);
  });
});

describe('the patient’s beat shapes survive what restarts the QRS detector inside a sustained VT (ECG-only, VT at 120/min)', () => {
  const firmware = run(500, 560, false);
  const sameAsFirmware = (o: ReturnType<typeof run>) => {
    expect(o.vt).toHaveLength(1);
    expect(Math.abs(o.vt[0]!.onsetS - firmware.vt[0]!.onsetS)).toBeLessThanOrEqual(0.02);
    expect(Math.abs(o.vt[0]!.endS! - firmware.vt[0]!.endS!)).toBeLessThanOrEqual(0.02);
    expect(count(o.labels.after, 'V')).toBe(0);
  };

  it('one lost frame 60 s into the VT (before: the alarm ended at the hole and the VT was read N from there)', () => {
    const o = run(500, 560, true, 9, { lostFramesAtS: [661] });
    sameAsFirmware(o);
    expect(count(o.labels.vt, 'N')).toBeLessThanOrEqual(2);
  });

  it('a processor restart 60 s into the VT: the record carries the shapes (≈ 1 kB), and the alarm goes on as without the restart', () => {
    const o = run(500, 560, true, 9, { restartAtS: 660 });
    sameAsFirmware(o);
    expect(o.notes).toEqual([]);
    expect(o.shapesBytes).toBeGreaterThan(100);
    expect(o.shapesBytes).toBeLessThan(1500);
  });

  it('an older record without the shapes: the successor takes the VT for the patient’s beat, and the alarm ends with an estimated end while the VT goes on (the old behaviour)', () => {
    const older = (r: StreamStateRecord): StreamStateRecord => {
      const { beatShapes: _dropped, ...rest } = r;
      return rest;
    };
    const o = run(500, 560, true, 9, { restartAtS: 660, edit: older });
    expect(o.vt.length).toBeGreaterThan(1);
    expect(o.notes.some((n) => n.startsWith('end estimated'))).toBe(true);
  });

  for (const fsHz of [500, 1000]) {
    it(`the device's sampling rate switched from 250 to ${fsHz} Hz 60 s into the VT (a config command): the shapes are resampled, and the alarm goes on as without the switch`, () => {
      const o = run(500, 560, true, 9, { switchFs: { atS: 660, fsHz } });
      sameAsFirmware(o);
      expect(count(o.labels.vt, 'N')).toBeLessThanOrEqual(2);
    });
  }

  it('a 3 s lead-off keeps the shapes (the patch moved); after a 30 s one they are learned afresh — inside a VT that is the VT’s complex (electrodes may have been put back elsewhere)', () => {
    const short = run(500, 560, true, 9, { leadOff: { fromS: 660, toS: 663 } });
    expect(count(short.labels.vt, 'N')).toBeLessThanOrEqual(8);
    expect(count(short.labels.after, 'V')).toBe(0);
    const long = run(500, 560, true, 9, { leadOff: { fromS: 660, toS: 690 } });
    expect(count(long.labels.vt, 'N')).toBeGreaterThan(100);
  });

  it('a processor restart inside a 3 s lead-off: the record still carries the shapes, and the VT goes on reading V', () => {
    const o = run(500, 560, true, 9, { leadOff: { fromS: 660, toS: 663 }, restartAtS: 661 });
    expect(count(o.labels.vt, 'N')).toBeLessThanOrEqual(8);
    expect(count(o.labels.after, 'V')).toBe(0);
  });

  it('a processor restart inside a 30 s lead-off, 5 s before it ends: the successor learns afresh, as without the restart', () => {
    const o = run(500, 560, true, 9, { leadOff: { fromS: 660, toS: 690 }, restartAtS: 685 });
    expect(count(o.labels.vt, 'N')).toBeGreaterThan(100);
  });
});
