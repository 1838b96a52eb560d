/**
 * The telemetry payloads the benchmark's devices send: 1 s frames from the simulator's own frame
 * builder and encoders (device-sim), a sinus rhythm around 75 bpm with an occasional PVC, with or
 * without a 250 Hz ECG, as JSON v1 or binary v2.
 */
import type { BeatClass } from '../contracts/telemetry.ts';
import { encodeV2 } from '../device-sim/encode-v2.ts';
import { syntheticEcgSource } from '../device-sim/ecg-synth.ts';
import { buildFrames, encodeV1, type TimedBeat } from '../device-sim/frames.ts';

export const FRAME_VARIANTS = ['v1', 'v2', 'v1-ecg', 'v2-ecg'] as const;
export type FrameVariant = (typeof FRAME_VARIANTS)[number];

export interface FramePool {
  variant: FrameVariant;
  payloads: Buffer[];
  meanBytes: number;
}

/** Sinus beats from t0Ms on: RR 800 ms ± a slow 40 ms swing (respiratory-like), every 37th beat a PVC. */
function* beats(t0Ms: number): Generator<TimedBeat> {
  let t = t0Ms - 600;
  for (let k = 0; ; k++) {
    const rrMs = Math.round(800 + 40 * Math.sin(k / 4));
    const cls: BeatClass = k % 37 === 36 ? 'V' : 'N';
    // A PVC comes early; the compensatory pause follows.
    t += cls === 'V' ? Math.round(rrMs * 0.6) : k % 37 === 0 && k > 0 ? Math.round(rrMs * 1.4) : rrMs;
    yield { tMs: t, cls };
  }
}

/**
 * `count` consecutive 1 s frames ending shortly before `nowMs` (well inside the contract's 24 h
 * clock-skew limit for the length of a benchmark run).
 */
export function framePool(variant: FrameVariant, nowMs: number, count = 60): FramePool {
  const t0Ms = Math.floor(nowMs / 1000) * 1000 - count * 1000;
  const ecg = variant.endsWith('-ecg');
  const frames = [...buildFrames(beats(t0Ms), {
    t0Ms, durationMs: count * 1000, frameMs: 1000, battery: 87,
    ...(ecg ? { ecg: syntheticEcgSource(7, 250), ecgFsHz: 250 } : {}),
  })];
  const encode = variant.startsWith('v1') ? encodeV1 : encodeV2;
  const payloads = frames.map((f) => encode(f));
  return { variant, payloads, meanBytes: Math.round(payloads.reduce((s, p) => s + p.length, 0) / payloads.length) };
}
