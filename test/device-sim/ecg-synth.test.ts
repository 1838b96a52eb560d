/**
 * The simulator's paced patients (device-sim/ecg-synth.ts `paced`): pacemaker pulses drawn in the
 * ECG and flagged in `ecg.pace`, loss of capture in silences, and what the processor makes of an
 * ECG-only paced device.
 */
import { describe, expect, it } from 'vitest';
import { DEFAULT_ALARM_CRITERIA } from '../../contracts/criteria.ts';
import type { TelemetryFrame } from '../../contracts/telemetry.ts';
import { syntheticEcgSource } from '../../device-sim/ecg-synth.ts';
import { buildFrames, type TimedBeat } from '../../device-sim/frames.ts';
import { detectorsForCriteria } from '../../processor/detector-set.ts';
import { detectThroughBeatSource, EcgBeatSource } from '../../processor/ecg-beats.ts';
import { PatientStream } from '../../processor/patient-stream.ts';

const T0 = Date.UTC(2026, 0, 1);
const FS = 250;

/** 10 beats at 75/min, a 5 s silence, 10 beats at 75/min, 3 V beats at 150/min, 8 beats at 170/min (faster than the upper rate), 5 more at 75/min. */
function timeline(): TimedBeat[] {
  const beats: TimedBeat[] = [];
  let t = T0 + 500;
  const add = (n: number, rr: number, cls: TimedBeat['cls'] = 'N') => { for (let i = 0; i < n; i++) { beats.push({ tMs: t, cls }); t += rr; } };
  add(10, 800);
  t += 5000 - 800;
  add(10, 800);
  add(3, 400, 'V');
  add(8, 353);
  add(5, 800);
  return beats;
}
const framesOf = (beats: TimedBeat[], paced: boolean): TelemetryFrame[] =>
  // (ends 2 s after the last beat: a longer silence at the end would be an asystole of its own)
  [...buildFrames(beats, { t0Ms: T0, durationMs: beats.at(-1)!.tMs - T0 + 2000, ecg: syntheticEcgSource(3, FS, { paced }), ecgFsHz: FS, battery: 90 })];
const pulsesMs = (frames: TelemetryFrame[]) => frames.flatMap((f) => (f.ecg?.pace ?? []).map((i) => f.ts + (i * 1000) / FS));

describe('simulated paced patients (ecg-synth paced)', () => {
  it('flags a pulse 50 ms before each own beat up to the upper rate (140/min), none before V beats or faster ones, and draws it in the ECG', () => {
    const beats = timeline();
    const frames = framesOf(beats, true);
    const pulses = pulsesMs(frames);
    const pacedBeats = beats.filter((b, i) => b.cls === 'N' && (i === 0 || b.tMs - beats[i - 1]!.tMs >= 60_000 / 140));
    for (const b of pacedBeats) expect(pulses.filter((p) => Math.abs(p - (b.tMs - 50)) <= 2), `beat at ${b.tMs - T0} ms`).toHaveLength(1);
    for (const b of beats.filter((x) => !pacedBeats.includes(x))) expect(pulses.filter((p) => p > b.tMs - 200 && p < b.tMs)).toEqual([]);
    for (const f of frames) for (const i of f.ecg?.pace ?? []) expect(f.ecg!.uV[i]).toBeGreaterThan(1500);
    // Without `paced`: no pulses, no flags.
    expect(framesOf(beats, false).every((f) => f.ecg !== undefined && f.ecg.pace === undefined)).toBe(true);
  });

  it('goes on firing at the last interval during a silence, without a QRS (loss of capture)', () => {
    const beats = timeline();
    const lastBefore = beats[9]!.tMs;
    const inSilence = pulsesMs(framesOf(beats, true)).filter((p) => p > lastBefore && p < beats[10]!.tMs - 100);
    // every 800 ms from the last beat, 50 ms before where its R would be (± half a sample)
    const expected = [750, 1550, 2350, 3150, 3950];
    expect(inSilence).toHaveLength(expected.length);
    inSilence.forEach((p, i) => expect(Math.abs(p - lastBefore - expected[i]!)).toBeLessThanOrEqual(2));
  });

  it('an ECG-only paced device: the silence raises the asystole, the conducted fast beats and the 3 V beats no VT; without the flags the pulses hide the asystole', () => {
    const onsets = (frames: TelemetryFrame[]) => {
      const stream = new PatientStream('p', 'd', detectorsForCriteria(DEFAULT_ALARM_CRITERIA));
      const source = new EcgBeatSource();
      return frames.map((f) => ({ ...f, beats: [], hr: 0 })).flatMap((f) => detectThroughBeatSource(source, stream, f).changes).filter((c) => c.type === 'onset').map((c) => c.kind);
    };
    const paced = framesOf(timeline(), true);
    expect(onsets(paced)).toEqual(['asystole']);
    const unflagged = paced.map((f) => ({ ...f, ecg: { fs: f.ecg!.fs, uV: f.ecg!.uV } }));
    expect(onsets(unflagged)).not.toContain('asystole');
  });
});
