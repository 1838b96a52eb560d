/**
 * Synthetic ECG of a paced patient for the pacing tests: pacer pulses (with their sample indices,
 * as a device's pace-detection channel flags them) and, while captured, a paced QRS after each.
 */
import { createPrng, gaussian } from '../../../device-sim/prng.ts';

/** Gaussian waves relative to a beat's R peak: centre (ms), amplitude (µV), SD (ms). */
export type Wave = [atMs: number, uV: number, sdMs: number];
/** Ventricular paced complex: wide (QRS ≈ 160 ms), R peak 50 ms after the pulse. */
export const PACED_QRS: Wave[] = [[-10, -300, 18], [0, 1200, 22], [45, -500, 25], [300, -350, 60]];
/** Intrinsic narrow beat (lead-II-like sinus beat of the other QRS tests). */
export const SINUS: Wave[] = [[-170, 120, 22], [-28, -90, 8], [0, 1100, 9], [26, -220, 9], [280, 280, 45]];
export const PULSE_TO_R_MS = 50;

export interface Drawn {
  x: Float64Array;
  /** Sample indices of the pacer pulses. */
  pace: number[];
  /** R peaks of the complexes drawn, ms. */
  beatsMs: number[];
}

/**
 * `seconds` of ECG at `fsHz`: a pacer pulse every `intervalMs` from 500 ms; while `captured(t)` a
 * paced QRS follows it. A pulse is 2 mV on its sample and 0.6 mV on the next (a 0.5 ms pulse
 * after the anti-alias filter of a 250 Hz front end), with 10 µV of noise throughout.
 * `qrs` / `pulseToRMs`: the complex drawn and where its R peak lies after the pulse (an intrinsic
 * beat 200 ms after an atrial pulse, say). `opts.fromMs`: first pulse; `opts.toMs`: no pulse from then on; `opts.pulses: false`: beats
 * without pulses (the patient's own rhythm); `opts.onto`: draw onto an earlier signal (in place),
 * appending to its pulses and beats.
 */
export function pacedEcg(fsHz: number, seconds: number, intervalMs: number, captured: (tMs: number) => boolean, qrs: Wave[] = PACED_QRS, pulseToRMs = PULSE_TO_R_MS, opts: { fromMs?: number; toMs?: number; pulses?: boolean; onto?: Drawn } = {}): Drawn {
  const x = opts.onto?.x ?? new Float64Array(Math.round(fsHz * seconds));
  const rnd = createPrng(5);
  if (!opts.onto) for (let i = 0; i < x.length; i++) x[i] = 10 * gaussian(rnd);
  const pace: number[] = [...(opts.onto?.pace ?? [])];
  const beatsMs: number[] = [...(opts.onto?.beatsMs ?? [])];
  for (let t = opts.fromMs ?? 500; t < Math.min(seconds * 1000 - 1000, opts.toMs ?? Infinity); t += intervalMs) {
    const i = Math.round((t * fsHz) / 1000);
    if (opts.pulses !== false) {
      pace.push(i);
      x[i]! += 2000;
      x[i + 1]! += 600;
    }
    if (!captured(t)) continue;
    const r = t + pulseToRMs;
    beatsMs.push(r);
    for (let k = Math.max(0, Math.floor(((r - 700) * fsHz) / 1000)); k < Math.min(x.length, ((r + 700) * fsHz) / 1000); k++) {
      const tk = (k * 1000) / fsHz;
      for (const [at, uV, sd] of qrs) x[k]! += uV * Math.exp(-0.5 * ((tk - r - at) / sd) ** 2);
    }
  }
  return { x, pace, beatsMs };
}
