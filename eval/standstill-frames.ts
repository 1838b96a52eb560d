/**
 * Synthetic frames of a device with firmware beats and ECG whose beat output fails before a
 * ventricular standstill (processor/ecg-beats.ts, firmware beat-output failure): 75/min sinus, a
 * standstill whose P waves (by default tall: 0.4 mV, 70/min) stay on the ECG without QRS, sinus again. The
 * firmware reports no beat from `failedBeforeMs` before the standstill, and not the last QRS
 * before it; with `failedBeforeMs` Infinity it never reports one (an ECG-only device). Used by
 * test/processor/firmware-outage-standstill.test.ts, test/processor/ecg-only-standstill.test.ts,
 * eval/firmware-outage-memory-limit.ts and eval/standstill-p-waves.ts.
 */
import type { TelemetryFrame } from '../contracts/telemetry.ts';
import { syntheticEcgSource } from '../device-sim/ecg-synth.ts';
import { buildFrames, type TimedBeat } from '../device-sim/frames.ts';
import { createPrng, gaussian } from '../device-sim/prng.ts';

/** Normal beats every `rrMs` after `fromMs`, before `untilMs`. */
export function beatsEvery(rrMs: number, fromMs: number, untilMs: number): TimedBeat[] {
  const out: TimedBeat[] = [];
  for (let t = fromMs + rrMs; t < untilMs; t += rrMs) out.push({ tMs: t, cls: 'N' });
  return out;
}

export interface StandstillOptions {
  t0Ms: number;
  /** The standstill, device time ms. */
  fromMs: number;
  untilMs: number;
  durationMs: number;
  failedBeforeMs: number;
  /** P-wave amplitude, µV (default 400: tall). */
  pWaveUv?: number;
  /** P waves per minute (default 70). */
  pWavesPerMin?: number;
}

export function standstillFrames(o: StandstillOptions): TelemetryFrame[] {
  const beats = [...beatsEvery(800, o.t0Ms, o.fromMs), ...beatsEvery(800, o.untilMs, o.t0Ms + o.durationMs)];
  const missedMs = beats.filter((b) => b.tMs < o.fromMs).at(-1)!.tMs;
  const random = createPrng(5);
  const pEveryMs = 60_000 / (o.pWavesPerMin ?? 70);
  const pWaves = (tMs: number) => {
    const phase = ((tMs % pEveryMs) + pEveryMs) % pEveryMs;
    const d = Math.min(phase, pEveryMs - phase);
    return 40 * Math.sin((2 * Math.PI * 0.3 * tMs) / 1000) + 20 * gaussian(random) + (o.pWaveUv ?? 400) * Math.exp(-0.5 * (d / 25) ** 2);
  };
  return [...buildFrames(beats, { t0Ms: o.t0Ms, durationMs: o.durationMs, battery: 90, ecg: syntheticEcgSource(9, 250), ecgFsHz: 250 })].map((f) => {
    const g = { ...f, beats: f.ts >= o.fromMs - o.failedBeforeMs ? [] : f.beats.filter((b) => f.ts + b.off !== missedMs) };
    if (f.ts < o.fromMs || f.ts >= o.untilMs) return g;
    return { ...g, beats: [], hr: 0, ecg: { fs: 250, uV: f.ecg!.uV.map((_, i) => Math.round(pWaves(f.ts + i * 4))) } };
  });
}
