/**
 * Synthetic VT in noise on an ECG-only device (issue 12, EVALUATION.md §5 and §6): sinus ECG with a
 * run of wide ventricular complexes, white noise around the run, replayed through the production
 * path (beat source → beat labels → detectors). Shared by the guard test
 * (test/processor/detectors/vt-in-noise.test.ts) and `node eval/vt-similarity.ts`.
 */
import type { TelemetryFrame } from '../contracts/telemetry.ts';
import { DEFAULT_ALARM_CRITERIA, type AlarmCriteria } from '../contracts/criteria.ts';
import { createPrng, gaussian } from '../device-sim/prng.ts';
import { detectorsForCriteria } from '../processor/detector-set.ts';
import { detectThroughBeatSource, EcgBeatSource } from '../processor/ecg-beats.ts';
import { PatientStream } from '../processor/patient-stream.ts';

const FS = 250;
const T0 = Date.UTC(2026, 0, 1);
/** Gaussian waves [ms from R, µV, sd ms]: a sinus beat and a wide ventricular complex. */
const SINUS: [number, number, number][] = [[-170, 120, 22], [-28, -90, 8], [0, 1100, 9], [26, -220, 9], [280, 280, 45]];
const WIDE: [number, number, number][] = [[0, -1400, 28], [40, 300, 25], [250, 500, 50]];

/** When the run starts, where the noise lies around it, and how long the recording is (defaults: at 30 s; 3 s either side; 60 s). */
export interface NoiseSpan {
  runAtMs?: number;
  beforeMs?: number;
  afterMs?: number;
  totalMs?: number;
}

/**
 * ECG of sinus at 75/min until `span.runAtMs`, then `vBeats` wide complexes every `rrMs`, then
 * sinus again, with white noise of `noiseUv` (sd) from `span.beforeMs` before the run to
 * `span.afterMs` after it. Returns the frames and where the run lies (ms from the start).
 */
export function vtInNoise(vBeats: number, rrMs: number, noiseUv: number, seed: number, span: NoiseSpan = {}): { frames: TelemetryFrame[]; fromMs: number; toMs: number } {
  const { runAtMs = 30_000, beforeMs = 3000, afterMs = 3000, totalMs = 60_000 } = span;
  const x = new Float64Array((totalMs / 1000) * FS);
  const beat = (rMs: number, waves: [number, number, number][]) => {
    for (let i = Math.max(0, Math.floor(((rMs - 600) * FS) / 1000)); i < Math.min(x.length, Math.ceil(((rMs + 600) * FS) / 1000)); i++) {
      for (const [at, uV, sd] of waves) x[i]! += uV * Math.exp(-((((i * 1000) / FS - rMs - at) / sd) ** 2) / 2);
    }
  };
  let t = 500;
  for (; t < runAtMs; t += 800) beat(t, SINUS);
  t -= 800 - rrMs;
  const fromMs = t;
  for (let k = 0; k < vBeats; k++, t += rrMs) beat(t, WIDE);
  const toMs = t;
  for (t += 400; t < totalMs - 1000; t += 800) beat(t, SINUS);
  const random = createPrng(seed);
  for (let i = 0; i < x.length; i++) {
    const tMs = (i * 1000) / FS;
    if (tMs >= fromMs - beforeMs && tMs < toMs + afterMs) x[i]! += noiseUv * gaussian(random);
  }
  const frames: TelemetryFrame[] = [];
  for (let s = 0; s * FS < x.length; s++) frames.push({ seq: s, ts: T0 + s * 1000, durMs: 1000, hr: 0, battery: 90, leadOff: false, beats: [], ecg: { fs: FS, uV: Array.from(x.subarray(s * FS, (s + 1) * FS)) } });
  return { frames, fromMs, toMs };
}

/**
 * True when the production path (default criteria, or `criteria`) raises vt for the run (onset
 * from 4 s before it to its end).
 */
export function alarmed({ frames, fromMs, toMs }: ReturnType<typeof vtInNoise>, criteria: AlarmCriteria = DEFAULT_ALARM_CRITERIA): boolean {
  const stream = new PatientStream('p', 'd', detectorsForCriteria(criteria));
  const source = new EcgBeatSource();
  return frames
    .flatMap((f) => detectThroughBeatSource(source, stream, f).changes)
    .some((c) => c.kind === 'vt' && c.type === 'onset' && c.onsetMs - T0 >= fromMs - 4000 && c.onsetMs - T0 <= toMs);
}
