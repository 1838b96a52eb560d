/**
 * ECG strips across a processor restart or partition move (stream-state.ts `ecgStrips`): a strip
 * still waiting for its post window when the processor stops comes out of the successor whole, as
 * an uninterrupted processor cuts it — same samples, same beats — whether the bus delivers an
 * uncommitted batch again or not, for a device with firmware beats and for an ECG-only device.
 * StreamRuntime directly (its record through JSON, as on the bus); the bus path is
 * ecg-strips-processor.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { DEFAULT_CRITERIA_VERSION } from '../../contracts/criteria.ts';
import type { EcgStrip } from '../../contracts/ecg-strip.ts';
import type { TelemetryFrame } from '../../contracts/telemetry.ts';
import { syntheticEcgSource } from '../../device-sim/ecg-synth.ts';
import { parseStreamState, type StreamStateRecord } from '../../processor/stream-state.ts';
import { StreamRuntime, type StreamRuntimeOptions } from '../../processor/stream-runtime.ts';
import { beats, frames, iso, T0 } from './helpers.ts';

const OPTIONS: StreamRuntimeOptions = { patientId: 'p1', deviceId: 'd1', criteriaAt: () => DEFAULT_CRITERIA_VERSION };

/** 20 s at 60 bpm, 9 s without a beat (asystole, onset at the last beat, 20 s), then 60 bpm: 250 Hz ECG and the firmware's beats. */
const ASYSTOLE = frames(beats(T0, [{ rrMs: 1000, count: 20 }, { rrMs: 9000, count: 1 }, { rrMs: 1000, count: 30 }]), 60_000, { ecg: syntheticEcgSource(7, 250), ecgFsHz: 250 });
/** The same from an ECG-only device: no beats in the frames, the processor detects them. */
const ASYSTOLE_ECG_ONLY = ASYSTOLE.map((f) => ({ ...f, beats: [], hr: 0 }));
/** 20 s at 75 bpm, then 12 ventricular beats at 150 bpm (VT, raised at its 5th beat), then 75 bpm. */
const VT = frames(beats(T0, [{ rrMs: 800, count: 25 }, { rrMs: 400, count: 12, cls: 'V' }, { rrMs: 800, count: 40 }]), 60_000, { ecg: syntheticEcgSource(9, 250), ecgFsHz: 250 });
/** The same from an ECG-only device: the beats of the strip's last seconds come from the successor's QRS detector. */
const VT_ECG_ONLY = VT.map((f) => ({ ...f, beats: [], hr: 0 }));

interface Restart {
  /** Index of the last frame the first runtime analyses. */
  after: number;
  /** Frames the successor sees again before the new ones (an uncommitted batch), from this index. */
  redeliverFrom?: number;
  /** Changes the record on its way (an older processor's record). */
  edit?: (r: StreamStateRecord) => StreamStateRecord;
}

/** Every strip the stream hands out, with the index of the frame that completed it. */
function strips(list: TelemetryFrame[], restart?: Restart): { at: number; strip: EcgStrip }[] {
  const out: { at: number; strip: EcgStrip }[] = [];
  const feed = (rt: StreamRuntime, from: number, to: number) => {
    for (let i = from; i < to; i++) {
      const f = list[i]!;
      for (const strip of rt.ingest(f, iso(f.ts + f.durMs)).strips) out.push({ at: i, strip });
    }
  };
  let rt = new StreamRuntime(OPTIONS);
  if (!restart) {
    feed(rt, 0, list.length);
    return out;
  }
  feed(rt, 0, restart.after + 1);
  const record = parseStreamState(JSON.parse(JSON.stringify(rt.record('a', 0))))!;
  rt = StreamRuntime.restore(OPTIONS, restart.edit ? restart.edit(record) : record);
  if (restart.redeliverFrom !== undefined) {
    for (const f of list.slice(restart.redeliverFrom, restart.after + 1)) expect(rt.ingest(f, iso(f.ts + f.durMs)).strips).toEqual([]);
  }
  feed(rt, restart.after + 1, list.length);
  return out;
}

/**
 * Strips as compared across a restart: everything, except the class of the beats from
 * `unlabelledFromMs` on. An ECG-only device's successor labels the beats after its predecessor's
 * last ones (≤ 3 s before the restart) with a QRS detector that learns the patient's dominant beat
 * afresh from the ECG the record keeps (ecg-beats.ts); inside a VT that is the VT's complex, so
 * its first sinus beats after the run can read `V` (seen: 7 beats) until the sinus template
 * outweighs it, as after any restart of the detector (lead-off too).
 */
function view(list: { at: number; strip: EcgStrip }[], unlabelledFromMs = Infinity) {
  return list.map(({ at, strip }) => ({ at, strip: { ...strip, beats: strip.beats.map((b) => (b.timeMs < unlabelledFromMs ? b : { timeMs: b.timeMs })) } }));
}

/** The frame (index) whose analysis raised the stream's first alert of `kind`. */
function raisedAt(list: TelemetryFrame[], kind: string): number {
  const rt = new StreamRuntime(OPTIONS);
  return list.findIndex((f) => rt.ingest(f, iso(f.ts + f.durMs)).alerts.some((a) => a.kind === kind && a.revision === 1));
}

describe('an ECG strip waiting for its post window when the processor restarts', () => {
  const cases = [
    { name: 'asystole, firmware beats', list: ASYSTOLE, kind: 'asystole', ecgOnly: false },
    { name: 'asystole, ECG-only device', list: ASYSTOLE_ECG_ONLY, kind: 'asystole', ecgOnly: true },
    { name: 'VT, firmware beats', list: VT, kind: 'vt', ecgOnly: false },
    { name: 'VT, ECG-only device', list: VT_ECG_ONLY, kind: 'vt', ecgOnly: true },
  ];
  for (const c of cases) {
    const reference = strips(c.list);
    const raised = raisedAt(c.list, c.kind);
    const completed = reference.find((s) => s.strip.kind === c.kind)?.at ?? -1;

    it(`${c.name}: the uninterrupted reference has one whole strip, completed some frames after the alarm`, () => {
      expect(reference.map((s) => s.strip.kind)).toEqual([c.kind]);
      expect(reference[0]!.strip.uV.every((v) => v !== null)).toBe(true);
      expect(reference[0]!.strip.beats.length).toBeGreaterThan(4);
      expect(completed - raised).toBeGreaterThanOrEqual(3);
    });

    it(`${c.name}: a restart after any frame between the alarm and the strip gives the same strip`, () => {
      for (let after = raised; after < completed; after++) {
        const unlabelledFromMs = c.ecgOnly ? c.list[after]!.ts + c.list[after]!.durMs - 3000 : Infinity;
        expect([after, view(strips(c.list, { after }), unlabelledFromMs)]).toEqual([after, view(reference, unlabelledFromMs)]);
        // The successor also gets the uncommitted batch again, from before the alarm or inside the wait.
        for (const redeliverFrom of [raised - 3, after - 1]) {
          expect([after, redeliverFrom, view(strips(c.list, { after, redeliverFrom }), unlabelledFromMs)]).toEqual([after, redeliverFrom, view(reference, unlabelledFromMs)]);
        }
      }
    });
  }

  it('the record carries the waiting strip only while it waits, with its window’s ECG so far (not the whole ring)', () => {
    const raised = raisedAt(ASYSTOLE, 'asystole');
    const completed = strips(ASYSTOLE)[0]!.at;
    const rt = new StreamRuntime(OPTIONS);
    const sizes: number[] = [];
    for (const [i, f] of ASYSTOLE.entries()) {
      rt.ingest(f, iso(f.ts + f.durMs));
      const state = rt.record('a', 0).ecgStrips;
      if (i < raised || i >= completed) expect([i, state]).toEqual([i, undefined]);
      else {
        expect(state?.captures.map((c) => c.kind)).toEqual(['asystole']);
        // From the strip's start (onset − 8 s = 12 s) up to the frame analysed.
        expect(state!.frames[0]!.ts).toBe(T0 + 12_000);
        expect(state!.frames.at(-1)!.ts).toBe(f.ts);
        sizes.push(JSON.stringify(state).length);
      }
    }
    // ≈ 0.75 kB per second of 250 Hz ECG in the JSON record, at most the strip's 16 s (the whole ring would be 60 s).
    expect(Math.max(...sizes)).toBeLessThan(16 * 800);
  });

  it('an older record without the waiting strip still restores; the strip is lost, as before there was a field for it', () => {
    const raised = raisedAt(ASYSTOLE, 'asystole');
    const old = (r: StreamStateRecord): StreamStateRecord => {
      const { ecgStrips: _dropped, ...rest } = r;
      return rest;
    };
    expect(strips(ASYSTOLE, { after: raised + 1, edit: old })).toEqual([]);
    // A state in another format is dropped when the record is read, like a missing one.
    const rt = new StreamRuntime(OPTIONS);
    for (const f of ASYSTOLE.slice(0, raised + 1)) rt.ingest(f, iso(f.ts + f.durMs));
    const record = JSON.parse(JSON.stringify(rt.record('a', 0))) as Record<string, unknown>;
    expect(record.ecgStrips).toBeDefined();
    const { ecgStrips: _dropped, ...withoutStrips } = record;
    expect(parseStreamState({ ...record, ecgStrips: { v: 2, frames: 'x' } })).toEqual(parseStreamState(withoutStrips));
  });
});
