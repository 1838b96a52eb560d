/**
 * Frames that carry no rhythm (issue 12 session 19): a device whose beats the processor detects in
 * its ECG (processor/ecg-beats.ts) sends lead-on frames with neither ECG nor beats — its ECG
 * switched off by a `config` command, or lost. Before, those frames reached the detectors as
 * frames without beats, and 4 s later a false high-priority asystole was raised and kept open.
 * Now they are a hole for the detectors and, after the signal-loss delay, a `signal_loss`
 * technical alarm (technical.ts NoRhythmMonitor) that ends at the first frame with ECG again —
 * also across a processor restart. A device with firmware beats is unchanged: its frames without
 * beats are its firmware's silence, an asystole.
 * StreamRuntime directly (its record through JSON, as on the bus); the bus path is restart.test.ts.
 */
import { describe, expect, it } from 'vitest';
import type { Alert } from '../../contracts/alert.ts';
import { DEFAULT_CRITERIA_VERSION } from '../../contracts/criteria.ts';
import type { TelemetryFrame } from '../../contracts/telemetry.ts';
import { syntheticEcgSource } from '../../device-sim/ecg-synth.ts';
import { parseStreamState, type StreamStateRecord } from '../../processor/stream-state.ts';
import { StreamRuntime, type StreamRuntimeOptions } from '../../processor/stream-runtime.ts';
import { beats, frames, iso, T0, type Segment } from './helpers.ts';

const OPTIONS: StreamRuntimeOptions = { patientId: 'p1', deviceId: 'd1', criteriaAt: () => DEFAULT_CRITERIA_VERSION, ecgStrips: false };

/** 90 s of 1 s frames with 250 Hz ECG; `firmware` keeps the beats, else an ECG-only device (no beats, hr 0). */
function stream(segments: Segment[], firmware: boolean): TelemetryFrame[] {
  const list = frames(beats(T0, segments), 90_000, { ecg: syntheticEcgSource(7, 250), ecgFsHz: 250 });
  return firmware ? list : list.map((f) => ({ ...f, beats: [], hr: 0 }));
}

/** The ECG switched off for frames [from, to): frames without `ecg` (and, ECG-only, without beats). */
const ecgOff = (list: TelemetryFrame[], from: number, to: number) => list.map((f, i) => (i >= from && i < to ? { ...f, ecg: undefined } : f));

const SINUS: Segment[] = [{ rrMs: 800, count: 120 }];

interface Seen { kind: string; revision: number; onsetS: number; endS?: number; atS: number; criterion?: string }

/** Every alert snapshot, with a restart (the record through JSON) after frame index `restartAfter`. */
function run(list: TelemetryFrame[], restartAfter?: number, edit?: (r: StreamStateRecord) => StreamStateRecord): Seen[] {
  let rt = new StreamRuntime(OPTIONS);
  const out: Seen[] = [];
  const see = (a: Alert, atMs: number) => out.push({
    kind: a.kind, revision: a.revision, onsetS: (Date.parse(a.onset) - T0) / 1000, ...(a.end ? { endS: (Date.parse(a.end) - T0) / 1000 } : {}), atS: (atMs - T0) / 1000, criterion: a.evidence.criterion,
  });
  list.forEach((f, i) => {
    for (const a of rt.ingest(f, iso(f.ts + f.durMs)).alerts) see(a, f.ts + f.durMs);
    if (i === restartAfter) {
      const record = parseStreamState(JSON.parse(JSON.stringify(rt.record('a', 0))))!;
      rt = StreamRuntime.restore(OPTIONS, edit ? edit(record) : record);
    }
  });
  return out;
}

const compact = (seen: Seen[]) => seen.map(({ criterion: _c, ...s }) => s);

describe('an ECG-only device whose ECG stops while its frames go on', () => {
  const OFF = ecgOff(stream(SINUS, false), 30, 60);

  it('raises no physiological alarm, and signal loss 10 s after the ECG stopped, ended by the first frame with ECG', () => {
    const seen = run(OFF);
    expect(compact(seen)).toEqual([
      { kind: 'signal_loss', revision: 1, onsetS: 30, atS: 40 },
      { kind: 'signal_loss', revision: 2, onsetS: 30, endS: 60, atS: 61 },
    ]);
    expect(seen[0]!.criterion).toMatch(/frames without ECG and without beats .* the rhythm is not monitored/);
  });

  it('a stretch shorter than the signal-loss delay raises nothing at all (it is a hole for the detectors, not a silence)', () => {
    for (const [from, to] of [[30, 31], [30, 35], [30, 39]] as const) expect([from, to, run(ecgOff(stream(SINUS, false), from, to))]).toEqual([from, to, []]);
  });

  it('a processor restart inside the stretch, before or after the signal loss opened, raises no asystole; an open signal loss goes on as the same alert', () => {
    const reference = compact(run(OFF));
    for (const after of [40, 45, 59]) expect([after, compact(run(OFF, after))]).toEqual([after, reference]);
    // Before it opened: the successor counts the delay from its own first frame without rhythm (technical
    // monitors keep only open episodes, as lead-off does), so signal loss comes that much later.
    for (const after of [29, 30, 35]) {
      expect([after, compact(run(OFF, after))]).toEqual([after, [
        { kind: 'signal_loss', revision: 1, onsetS: Math.max(30, after + 1), atS: Math.max(30, after + 1) + 10 },
        { kind: 'signal_loss', revision: 2, onsetS: Math.max(30, after + 1), endS: 60, atS: 61 },
      ]]);
    }
  });

  it('the successor knows the stream’s beats come from its ECG only from the record (an older record without it: the old false asystole)', () => {
    const withoutField = (r: StreamStateRecord): StreamStateRecord => {
      expect(r.beatsFromEcg).toBe(true);
      const { beatsFromEcg: _dropped, ...rest } = r;
      return rest;
    };
    expect(run(OFF, 35, withoutField).map((s) => s.kind)).toContain('asystole');
    expect(run(OFF, 35).map((s) => s.kind)).not.toContain('asystole');
  });

  it('the arrival-based signal loss does not end the rhythm’s: frames that arrive without ECG keep it open', () => {
    const rt = new StreamRuntime(OPTIONS);
    const kinds: string[] = [];
    for (const f of OFF.slice(0, 45)) for (const a of rt.ingest(f, iso(f.ts + f.durMs)).alerts) kinds.push(`${a.kind} r${a.revision}`);
    expect(kinds).toEqual(['signal_loss r1']);
    // The device falls silent for a while: no second signal loss, the open one stays.
    expect(rt.onSilence(iso(T0 + 60_000), 10_000).filter((a) => a.kind === 'signal_loss')).toEqual([]);
    for (const f of OFF.slice(45, 50)) expect(rt.ingest(f, iso(f.ts + f.durMs)).alerts).toEqual([]);
    expect(rt.signalLossOpen).toBe(true);
  });
});

describe('devices whose frames without beats are a silence, as before', () => {
  it('a device with firmware beats whose ECG stops: its beats go on, nothing is raised', () => {
    expect(run(ecgOff(stream(SINUS, true), 30, 60))).toEqual([]);
  });

  it('a beats-only device (never any ECG) in asystole: raised at 4 s, as the firmware reports no beats', () => {
    const list = frames(beats(T0, [{ rrMs: 800, count: 37 }, { rrMs: 8000, count: 1 }, { rrMs: 800, count: 40 }]), 60_000);
    expect(list.every((f) => f.ecg === undefined)).toBe(true);
    const asystole = run(list).filter((s) => s.kind === 'asystole');
    expect(asystole[0]).toMatchObject({ revision: 1, onsetS: 29.6, atS: 34 });
  });

  it('a device with firmware beats and ECG whose firmware reports an asystole while the ECG stops: still raised', () => {
    const list = ecgOff(stream([{ rrMs: 800, count: 37 }, { rrMs: 8000, count: 1 }, { rrMs: 800, count: 40 }], true), 30, 40);
    const asystole = run(list).filter((s) => s.kind === 'asystole');
    expect(asystole[0]).toMatchObject({ revision: 1, onsetS: 29.6, atS: 34 });
  });
});
