/**
 * A device with firmware beats and ECG (processor/ecg-beats.ts, firmware beat-output failure, a7b472a):
 * the firmware misses the patient's last QRS complex (or its beat output has failed for a while),
 * then the heart stops — a ventricular standstill whose tall P waves (0.4 mV) the QRS detector finds
 * and labels `V`. The missed complex makes the firmware's silence look like its beat output failing,
 * and the stream switches to the ECG-derived beats; those P waves then stood for beats at 70/min,
 * and no asystole was raised at all for as long as the standstill lasted (review of a7b472a). The switch holds only while the ECG shows
 * complexes like the patient's confirmed dominant beat: after the asystole criterion without one,
 * the firmware's silence is trusted again and the asystole is raised during the standstill.
 * StreamRuntime directly, default criteria, 1 s frames.
 */
import { describe, expect, it } from 'vitest';
import type { TelemetryFrame } from '../../contracts/telemetry.ts';
import { DEFAULT_CRITERIA_VERSION } from '../../contracts/criteria.ts';
import { syntheticEcgSource } from '../../device-sim/ecg-synth.ts';
import { buildFrames, type TimedBeat } from '../../device-sim/frames.ts';
import { createPrng, gaussian } from '../../device-sim/prng.ts';
import { StreamRuntime } from '../../processor/stream-runtime.ts';

const T0 = Date.parse('2026-03-01T00:00:00Z');
const sinus = (rrMs: number, fromMs: number, untilMs: number): TimedBeat[] => {
  const out: TimedBeat[] = [];
  for (let t = fromMs + rrMs; t < untilMs; t += rrMs) out.push({ tMs: t, cls: 'N' });
  return out;
};

describe('firmware beat-output failure switch, then a ventricular standstill', () => {
  it.each([
    ['the firmware missed the last QRS before it', 0],
    ['the firmware\'s beat output had failed 20 s before it (beats from the ECG since)', 20_000],
  ])('raises the asystole during the standstill when %s (the P waves the QRS detector finds do not keep the derived beats going)', (_, failedBeforeMs) => {
    const startMs = T0 + 60_000;
    const endMs = startMs + 30_000;
    const beats = [...sinus(800, T0, startMs), ...sinus(800, endMs, T0 + 100_000)];
    const missedMs = beats.filter((b) => b.tMs < startMs).at(-1)!.tMs;
    const random = createPrng(5);
    const pEveryMs = 60_000 / 70;
    const standstill = (tMs: number) => {
      const phase = ((tMs % pEveryMs) + pEveryMs) % pEveryMs;
      const d = Math.min(phase, pEveryMs - phase);
      return 40 * Math.sin((2 * Math.PI * 0.3 * tMs) / 1000) + 20 * gaussian(random) + 400 * Math.exp(-0.5 * (d / 25) ** 2);
    };
    const frames: TelemetryFrame[] = [...buildFrames(beats, { t0Ms: T0, durationMs: 100_000, battery: 90, ecg: syntheticEcgSource(9, 250), ecgFsHz: 250 })].map((f) => {
      // The firmware does not report the last QRS before the standstill (its ECG shows it), or none from failedBeforeMs before it.
      const g = { ...f, beats: f.ts >= startMs - failedBeforeMs ? [] : f.beats.filter((b) => f.ts + b.off !== missedMs) };
      if (f.ts < startMs || f.ts >= endMs) return g;
      return { ...g, beats: [], hr: 0, ecg: { fs: 250, uV: f.ecg!.uV.map((_, i) => Math.round(standstill(f.ts + i * 4))) } };
    });
    const rt = new StreamRuntime({ patientId: 'p1', deviceId: 'd1', criteriaAt: () => DEFAULT_CRITERIA_VERSION, ecgStrips: false });
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

describe('firmware beat-output failure switch, then a VT', () => {
  it('keeps the derived beats through a VT (no complex like the dominant beat, but fast): VT and extreme tachycardia, no asystole', () => {
    const outageMs = T0 + 60_000;
    const vtMs = T0 + 80_000;
    const beats: TimedBeat[] = [...sinus(800, T0, vtMs), { tMs: vtMs, cls: 'N' }];
    for (let t = vtMs + 350; t < vtMs + 10_000; t += 350) beats.push({ tMs: t, cls: 'V' });
    beats.push(...sinus(800, vtMs + 10_000, T0 + 120_000));
    const frames = [...buildFrames(beats, { t0Ms: T0, durationMs: 120_000, battery: 90, ecg: syntheticEcgSource(9, 250), ecgFsHz: 250 })]
      .map((f) => (f.ts >= outageMs ? { ...f, beats: [], hr: 0 } : f));
    const rt = new StreamRuntime({ patientId: 'p1', deviceId: 'd1', criteriaAt: () => DEFAULT_CRITERIA_VERSION, ecgStrips: false });
    const kinds = new Set<string>();
    let outages = 0;
    for (const f of frames) {
      const r = rt.ingest(f, new Date(f.ts + f.durMs).toISOString());
      outages += r.firmwareOutages.length;
      for (const a of r.alerts) kinds.add(a.kind);
    }
    expect(outages).toBe(1);
    expect([...kinds].sort()).toEqual(['extreme_tachy', 'vt']);
  });
});
