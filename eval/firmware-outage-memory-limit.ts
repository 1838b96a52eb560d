/**
 * The limit of the firmware beat-output failure fall-back (processor/ecg-beats.ts, EVALUATION.md
 * §5): the firmware's silence is handed back only within FIRMWARE_BEAT_MEMORY_MS (60 s) of its
 * last beat; past that the stream is taken for an ECG-only device and the P waves of a ventricular
 * standstill are derived beats. Synthetic, production path (StreamRuntime, default criteria, 1 s
 * frames): 75/min sinus, a 60 s standstill from 80 s (P waves 0.4 mV at 70/min, no QRS), the
 * firmware's beat output failed N s before it (and not reporting the last QRS); uninterrupted and
 * restarted at 75 s from a regular record. Prints the asystole alerts (revision@frame, end).
 * Run: node eval/firmware-outage-memory-limit.ts
 */
import type { TelemetryFrame } from '../contracts/telemetry.ts';
import { DEFAULT_CRITERIA_VERSION } from '../contracts/criteria.ts';
import { syntheticEcgSource } from '../device-sim/ecg-synth.ts';
import { buildFrames, type TimedBeat } from '../device-sim/frames.ts';
import { createPrng, gaussian } from '../device-sim/prng.ts';
import { StreamRuntime } from '../processor/stream-runtime.ts';
import { parseStreamState } from '../processor/stream-state.ts';

const T0 = Date.parse('2026-03-01T00:00:00Z');
const OPTIONS = { patientId: 'p1', deviceId: 'd1', criteriaAt: () => DEFAULT_CRITERIA_VERSION, ecgStrips: false as const };
const STANDSTILL_S = 80;
const STANDSTILL_MS = 60_000;
const DURATION_MS = 160_000;
const RESTART_AFTER = STANDSTILL_S - 5;

function beatsEvery(rrMs: number, fromMs: number, untilMs: number): TimedBeat[] {
  const out: TimedBeat[] = [];
  for (let t = fromMs + rrMs; t < untilMs; t += rrMs) out.push({ tMs: t, cls: 'N' });
  return out;
}

function frames(failedBeforeMs: number): TelemetryFrame[] {
  const fromMs = T0 + STANDSTILL_S * 1000;
  const untilMs = fromMs + STANDSTILL_MS;
  const beats = [...beatsEvery(800, T0, fromMs), ...beatsEvery(800, untilMs, T0 + DURATION_MS)];
  const missedMs = beats.filter((b) => b.tMs < fromMs).at(-1)!.tMs;
  const random = createPrng(5);
  const pEveryMs = 60_000 / 70;
  const pWaves = (tMs: number) => {
    const phase = ((tMs % pEveryMs) + pEveryMs) % pEveryMs;
    const d = Math.min(phase, pEveryMs - phase);
    return 40 * Math.sin((2 * Math.PI * 0.3 * tMs) / 1000) + 20 * gaussian(random) + 400 * Math.exp(-0.5 * (d / 25) ** 2);
  };
  return [...buildFrames(beats, { t0Ms: T0, durationMs: DURATION_MS, battery: 90, ecg: syntheticEcgSource(9, 250), ecgFsHz: 250 })].map((f) => {
    const g = { ...f, beats: f.ts >= fromMs - failedBeforeMs ? [] : f.beats.filter((b) => f.ts + b.off !== missedMs) };
    if (f.ts < fromMs || f.ts >= untilMs) return g;
    return { ...g, beats: [], hr: 0, ecg: { fs: 250, uV: f.ecg!.uV.map((_, i) => Math.round(pWaves(f.ts + i * 4))) } };
  });
}

for (const failedBeforeMs of [20_000, 40_000, 50_000, 52_000, 54_000, 56_000, 58_000, 60_000]) {
  for (const restart of [false, true]) {
    let rt = new StreamRuntime(OPTIONS);
    const alerts: string[] = [];
    let lastFirmwareMs = -Infinity;
    for (const [i, f] of frames(failedBeforeMs).entries()) {
      if (f.beats.length > 0) lastFirmwareMs = f.ts + f.beats.at(-1)!.off;
      for (const a of rt.ingest(f, new Date(f.ts + f.durMs).toISOString()).alerts) {
        if (a.kind === 'asystole') alerts.push(`${a.revision}@${i}${a.end ? ` end ${(Date.parse(a.end) - T0) / 1000} s` : ''}`);
      }
      if (restart && i === RESTART_AFTER) rt = StreamRuntime.restore(OPTIONS, parseStreamState(JSON.parse(JSON.stringify(rt.record('a', 0))))!);
    }
    console.log(`failed ${failedBeforeMs / 1000} s before (last firmware beat ${(lastFirmwareMs - T0) / 1000} s; standstill ${STANDSTILL_S}–${STANDSTILL_S + STANDSTILL_MS / 1000} s)${restart ? `, restarted after frame ${RESTART_AFTER}` : ''}: ${alerts.join(', ') || 'no asystole'}`);
  }
}
