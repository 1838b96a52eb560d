/**
 * A device with firmware beats and ECG (processor/ecg-beats.ts, firmware beat-output failure, a7b472a):
 * the firmware misses the patient's last QRS complex (or its beat output has failed for a while),
 * then the heart stops — a ventricular standstill whose tall P waves (0.4 mV) the QRS detector finds
 * and labels `V`. The missed complex makes the firmware's silence look like its beat output failing,
 * and the stream switches to the ECG-derived beats; those P waves then stood for beats at 70/min,
 * and no asystole was raised at all for as long as the standstill lasted (review of a7b472a). The switch holds only while the ECG shows
 * complexes like the patient's confirmed dominant beat: after the asystole criterion without one,
 * the firmware's silence is trusted again and the asystole is raised during the standstill.
 * A processor restarted during the switch (its changelog record through JSON, then restore) does
 * the same: the record carries the switch (stream-state.ts `firmwareOutage`); before, the successor
 * took the stream for an ECG-only device and the standstill was never raised.
 * StreamRuntime directly, default criteria, 1 s frames.
 */
import { describe, expect, it } from 'vitest';
import type { TelemetryFrame } from '../../contracts/telemetry.ts';
import { DEFAULT_CRITERIA_VERSION } from '../../contracts/criteria.ts';
import { syntheticEcgSource } from '../../device-sim/ecg-synth.ts';
import { buildFrames, type TimedBeat } from '../../device-sim/frames.ts';
import { createPrng, gaussian } from '../../device-sim/prng.ts';
import { EcgBeatSource } from '../../processor/ecg-beats.ts';
import { StreamRuntime } from '../../processor/stream-runtime.ts';
import { parseStreamState, type StreamStateRecord } from '../../processor/stream-state.ts';
import { base64ToInt16, int16ToBase64 } from '../../processor/int16-base64.ts';
import { beatsEvery, standstillFrames as standstillFramesOf } from '../../eval/standstill-frames.ts';

const T0 = Date.parse('2026-03-01T00:00:00Z');
const sinus = beatsEvery;

const OPTIONS = { patientId: 'p1', deviceId: 'd1', criteriaAt: () => DEFAULT_CRITERIA_VERSION, ecgStrips: false as const };
/** The standstill: from 60 s to 90 s of the stream (frame i starts at i s). */
const STANDSTILL_S = 60;
const startMs = T0 + STANDSTILL_S * 1000;
const endMs = startMs + 30_000;

/**
 * 75/min sinus, a 30 s ventricular standstill with P waves at 70/min (0.4 mV) from 60 s, sinus
 * again; the firmware reports no beat from `failedBeforeMs` before the standstill, and not the
 * last QRS before it.
 */
function standstillFrames(failedBeforeMs: number): TelemetryFrame[] {
  return standstillFramesOf({ t0Ms: T0, fromMs: startMs, untilMs: endMs, durationMs: 100_000, failedBeforeMs });
}

describe('firmware beat-output failure switch, then a ventricular standstill', () => {
  it.each([
    ['the firmware missed the last QRS before it', 0],
    ['the firmware\'s beat output had failed 20 s before it (beats from the ECG since)', 20_000],
  ])('raises the asystole during the standstill when %s (the P waves the QRS detector finds do not keep the derived beats going)', (_, failedBeforeMs) => {
    const frames = standstillFrames(failedBeforeMs);
    const rt = new StreamRuntime(OPTIONS);
    const raisedAt: number[] = [];
    let outages = 0;
    for (const f of frames) {
      const r = rt.ingest(f, new Date(f.ts + f.durMs).toISOString());
      outages += r.firmwareOutages.length;
      if (r.alerts.some((a) => a.kind === 'asystole' && a.revision === 1)) raisedAt.push(f.ts + f.durMs);
    }
    // The missed complex does switch to the derived beats (the path under test)…
    expect(outages).toBe(1);
    // …and the standstill is still an asystole, raised while it lasts.
    expect(raisedAt).toHaveLength(1);
    expect(raisedAt[0]).toBeGreaterThan(startMs);
    expect(raisedAt[0]).toBeLessThanOrEqual(endMs);
  });
});

/** Asystole alarms as raised (revision 1): the frame that raised them and their onset; optionally restarted after frame `restartAfter`. */
function asystoles(frames: TelemetryFrame[], restart?: { after: number; handover?: boolean; edit?: (r: StreamStateRecord) => StreamStateRecord }) {
  let rt = new StreamRuntime(OPTIONS);
  const out: { frame: number; onset: string }[] = [];
  for (const [i, f] of frames.entries()) {
    for (const a of rt.ingest(f, new Date(f.ts + f.durMs).toISOString()).alerts) if (a.kind === 'asystole' && a.revision === 1) out.push({ frame: i, onset: a.onset });
    if (i === restart?.after) {
      const record = parseStreamState(JSON.parse(JSON.stringify(rt.record('a', 0, { handover: restart.handover === true }))))!;
      rt = StreamRuntime.restore(OPTIONS, restart.edit ? restart.edit(record) : record);
    }
  }
  return out;
}

describe('a processor restarted during the switch, then a ventricular standstill', () => {
  // Frame i starts at i s; the standstill at 60 s. failedBeforeMs 20 s: the switch comes ≈ 42 s;
  // 0: ≈ 61 s (2 s after the last QRS, the one the firmware missed). Restarted during the switch,
  // before the standstill and inside it before the fall-back (≈ 63.4 s).
  it.each([
    [20_000, [41, 45, 50, 55, 58, 59, 60, 61, 63]],
    [0, [60, 61, 62, 63]],
  ])('raises the asystole at the frame and with the onset of the uninterrupted stream (firmware beat output failed %i ms before it)', (failedBeforeMs, restartsAfter) => {
    const frames = standstillFrames(failedBeforeMs);
    const reference = asystoles(frames);
    expect(reference).toHaveLength(1);
    expect(reference[0]!.frame).toBeGreaterThan(STANDSTILL_S);
    for (const after of restartsAfter) {
      // (The record says the switch: the path under test.)
      const rt = new StreamRuntime(OPTIONS);
      for (const f of frames.slice(0, after + 1)) rt.ingest(f, new Date(f.ts + f.durMs).toISOString());
      const record = parseStreamState(JSON.parse(JSON.stringify(rt.record('a', 0))))!;
      expect([after, record.beatsFromEcg, record.firmwareOutage !== undefined, record.lastFirmwareBeatMs]).toEqual([after, true, true, undefined]);
      expect([after, asystoles(frames, { after })]).toEqual([after, reference]);
      // A graceful hand-over (the QRS detector's own state) too.
      expect([after, 'handover', asystoles(frames, { after, handover: true })]).toEqual([after, 'handover', reference]);
    }
  });

  it('restarted 2 s into the standstill from a regular record: raised during the standstill, not later than by the uninterrupted stream (its QRS detector runs again over the kept ECG: close, not exact); from a hand-over exactly', () => {
    const frames = standstillFrames(20_000);
    const reference = asystoles(frames);
    const restarted = asystoles(frames, { after: STANDSTILL_S + 2 });
    // (Measured: one frame earlier, its onset the P wave before the reference's, which the re-run did not hand out.)
    expect(restarted).toHaveLength(1);
    expect(restarted[0]!.frame).toBeLessThanOrEqual(reference[0]!.frame);
    expect(Date.parse(restarted[0]!.onset)).toBeGreaterThan(startMs);
    expect(asystoles(frames, { after: STANDSTILL_S + 2, handover: true })).toEqual(reference);
  });

  it('the successor counts complexes like the template the record names as the patient\'s dominant beat, not like whichever of the beat shapes weighs most', () => {
    // A sinus rhythm during the beat-output failure (frames before the standstill), restarted at 45 s;
    // the record's shapes get a second template, the first one inverted (lighter). Named the
    // dominant beat, the sinus complexes are not like it: 4 s later the firmware's silence (since
    // 39.2 s) stands again, an asystole. Named as written (the sinus complex), the derived beats go on.
    const frames = standstillFrames(20_000).slice(0, STANDSTILL_S);
    const withDominant = (dominant: number) => (r: StreamStateRecord): StreamStateRecord => {
      const [qrs] = r.beatShapes!.templates;
      const inverted = int16ToBase64(Array.from(base64ToInt16(qrs!.wave), (v) => -v));
      return { ...r, beatShapes: { ...r.beatShapes!, templates: [qrs!, { ...qrs!, wave: inverted, weight: qrs!.weight / 2 }] }, firmwareOutage: { ...r.firmwareOutage!, dominant } };
    };
    expect(asystoles(frames)).toEqual([]);
    expect(asystoles(frames, { after: 45, edit: withDominant(0) })).toEqual([]);
    expect(asystoles(frames, { after: 45, edit: withDominant(1) })).toHaveLength(1);
  });

  it('an older processor\'s record (no firmwareOutage), or one in another format, still restores: its successor goes on like an ECG-only device, as before (derived beats, no fall-back)', () => {
    const frames = standstillFrames(20_000);
    const after = 50;
    const rt = new StreamRuntime(OPTIONS);
    for (const f of frames.slice(0, after + 1)) rt.ingest(f, new Date(f.ts + f.durMs).toISOString());
    const json = JSON.parse(JSON.stringify(rt.record('a', 0))) as Record<string, unknown>;
    const { firmwareOutage: _dropped, ...older } = json;
    for (const raw of [older, { ...older, firmwareOutage: { v: 2 } }]) {
      const record = parseStreamState(raw)!;
      expect([record.beatsFromEcg, record.firmwareOutage]).toEqual([true, undefined]);
      const successor = StreamRuntime.restore(OPTIONS, record);
      const kinds = new Set<string>();
      for (const f of frames.slice(after + 1)) for (const a of successor.ingest(f, new Date(f.ts + f.durMs).toISOString()).alerts) kinds.add(a.kind);
      // The derived beats went on through the standstill: the gap this field closes.
      expect([...kinds]).not.toContain('asystole');
      expect(successor.record('b', 0).firmwareOutage).toBeUndefined();
    }
  });
});

describe('a successor restarted during the switch, then a later failure', () => {
  it('notes the complexes of a later beat-output failure after a device clock step back (the re-run\'s skip of the predecessor\'s complexes does not outlive it)', () => {
    // The beat source directly (the processor keeps analysed device time monotone; the source itself
    // does not require it). Restarted at 45 s during the switch (regular record: the detector runs
    // again over the kept ECG), the firmware's beats back at 55 s; at 70 s the device clock steps
    // back 40 s (frames from 30 s again), its beats until 40 s, then its beat output fails again
    // while the ECG goes on showing the patient's sinus QRS. Before, complexes up to just after the
    // predecessor's latest noted one (≈ 45 s) were skipped for the rest of the process: the second
    // switch noted none of them and fell back to the firmware's silence 4 s into it.
    const failed = standstillFrames(20_000);
    const plain = [...buildFrames(sinus(800, T0, T0 + 100_000), { t0Ms: T0, durationMs: 100_000, battery: 90, ecg: syntheticEcgSource(9, 250), ecgFsHz: 250 })];
    const rt = new StreamRuntime(OPTIONS);
    for (const f of failed.slice(0, 46)) rt.ingest(f, new Date(f.ts + f.durMs).toISOString());
    const record = parseStreamState(JSON.parse(JSON.stringify(rt.record('a', 0))))!;
    expect([record.firmwareOutage !== undefined, record.ecgBeats !== undefined, record.beatShapes !== undefined]).toEqual([true, true, true]);
    // (As StreamRuntime.restore does.)
    const source = new EcgBeatSource();
    source.rememberEcgMode();
    source.rememberFirmwareOutage(record.firmwareOutage!);
    source.rememberBeatShapes(record.beatShapes!);
    source.resume(record.ecgBeats!);
    const stepBackMs = 40_000;
    const after = [
      ...failed.slice(46, 55),
      ...plain.slice(55, 70),
      ...plain.slice(70).map((f) => ({ ...f, ts: f.ts - stepBackMs, beats: f.ts - stepBackMs < T0 + 40_000 ? f.beats : [] })),
    ];
    const modes: { tMs: number; ecgMode: boolean }[] = [];
    let switchedAtMs: number | undefined;
    for (const [i, f] of after.entries()) {
      source.frames(f);
      const outages = source.takeFirmwareOutages();
      // (From the stepped-back frames on.)
      if (i < 9 + 15) continue;
      switchedAtMs ??= outages[0]?.detectedAtMs;
      modes.push({ tMs: f.ts, ecgMode: source.ecgMode });
    }
    // The second failure is found (≈ 2 s after the firmware's last beat, 39.2 s)…
    expect(switchedAtMs).toBeGreaterThan(T0 + 40_000);
    expect(switchedAtMs).toBeLessThan(T0 + 45_000);
    // …and the derived beats go on to the end: the patient's QRS complexes are noted (before: back to the firmware's silence ≈ 4 s in).
    expect(modes.filter((m) => m.tMs >= switchedAtMs! && !m.ecgMode)).toEqual([]);
    const state = source.firmwareOutageState();
    expect(state).toBeDefined();
    expect(state!.likeLastMs).toBeGreaterThan(after.at(-1)!.ts - 2000);
  });
});

describe('firmware beat-output failure switch, then a VT', () => {
  it('keeps the derived beats through a VT (no complex like the dominant beat, but fast): VT and extreme tachycardia, no asystole; also after a restart', () => {
    const outageMs = T0 + 60_000;
    const vtMs = T0 + 80_000;
    const beats: TimedBeat[] = [...sinus(800, T0, vtMs), { tMs: vtMs, cls: 'N' }];
    for (let t = vtMs + 350; t < vtMs + 10_000; t += 350) beats.push({ tMs: t, cls: 'V' });
    beats.push(...sinus(800, vtMs + 10_000, T0 + 120_000));
    const frames = [...buildFrames(beats, { t0Ms: T0, durationMs: 120_000, battery: 90, ecg: syntheticEcgSource(9, 250), ecgFsHz: 250 })]
      .map((f) => (f.ts >= outageMs ? { ...f, beats: [], hr: 0 } : f));
    const rt = new StreamRuntime(OPTIONS);
    const kinds = new Set<string>();
    let outages = 0;
    for (const f of frames) {
      const r = rt.ingest(f, new Date(f.ts + f.durMs).toISOString());
      outages += r.firmwareOutages.length;
      for (const a of r.alerts) kinds.add(a.kind);
    }
    expect(outages).toBe(1);
    expect([...kinds].sort()).toEqual(['extreme_tachy', 'vt']);
    // Restarted during the switch, before the VT and inside it (the successor goes on with the fast-rhythm check): the same alarms.
    for (const after of [65, 79, 82, 84, 86]) {
      for (const handover of [false, true]) {
        let restarted = new StreamRuntime(OPTIONS);
        const alarms = new Set<string>();
        for (const [i, f] of frames.entries()) {
          for (const a of restarted.ingest(f, new Date(f.ts + f.durMs).toISOString()).alerts) alarms.add(a.kind);
          if (i === after) restarted = StreamRuntime.restore(OPTIONS, parseStreamState(JSON.parse(JSON.stringify(restarted.record('a', 0, { handover }))))!);
        }
        expect([after, handover, [...alarms].sort()]).toEqual([after, handover, ['extreme_tachy', 'vt']]);
      }
    }
  });
});
