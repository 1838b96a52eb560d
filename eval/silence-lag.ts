/**
 * How late an ECG-only device's asystole can be seen: synthetic ECG (device-sim/ecg-synth.ts) of
 * sinus rhythm at 50–100 bpm, then no QRS for 20 s, in 1 s frames through the processor's beat
 * source (processor/ecg-beats.ts). The detectors see device time only up to the end of the beat
 * source's output, so the asystole (no QRS for 4 s) can be raised no earlier than the input frame
 * after which that output has passed the last beat + 4 s. Prints that input time per rate and
 * noise seed, and the output's lag behind the input late in the silence.
 *
 *   node eval/silence-lag.ts
 */
import type { TelemetryFrame } from '../contracts/telemetry.ts';
import { syntheticEcgSource } from '../device-sim/ecg-synth.ts';
import { buildFrames, type TimedBeat } from '../device-sim/frames.ts';
import { EcgBeatSource } from '../processor/ecg-beats.ts';

const T0 = Date.parse('2026-03-01T00:00:00Z');
const LAST_BEAT_MS = 40_123;
const ASYSTOLE_MS = 4000;

console.log('ECG-only asystole: when the beat source\'s output passes the last beat + 4 s (input time into the silence)');
console.log('rr ms  seed  input when output ≥ last + 4 s  output lag at 19 s');
for (const rrMs of [600, 800, 1000, 1200]) {
  for (const seed of [1, 2, 3]) {
    const beats: TimedBeat[] = [];
    for (let t = LAST_BEAT_MS % rrMs; t <= LAST_BEAT_MS; t += rrMs) beats.push({ tMs: T0 + t, cls: 'N' });
    const frames: TelemetryFrame[] = [...buildFrames(beats, { t0Ms: T0, durationMs: LAST_BEAT_MS + 20_000, ecg: syntheticEcgSource(seed, 250), ecgFsHz: 250, battery: 90 })]
      .map((f) => ({ ...f, beats: [], hr: 0 }));
    const source = new EcgBeatSource();
    let outEndMs = T0;
    let seenAtMs: number | undefined;
    let lagMs = NaN;
    for (const f of frames) {
      for (const o of source.frames(f)) outEndMs = o.ts + o.durMs;
      const inEndMs = f.ts + f.durMs;
      if (seenAtMs === undefined && outEndMs >= T0 + LAST_BEAT_MS + ASYSTOLE_MS) seenAtMs = inEndMs;
      lagMs = inEndMs - outEndMs;
    }
    const seen = seenAtMs === undefined ? '> 19.9 s (not seen)' : `${((seenAtMs - T0 - LAST_BEAT_MS) / 1000).toFixed(1)} s`;
    console.log(`${String(rrMs).padStart(5)}  ${String(seed).padStart(4)}  ${seen.padStart(30)}  ${String(lagMs).padStart(14)} ms`);
  }
}
