/**
 * ECG resampled to another rate the way a front end at that rate would have sampled it (used by
 * eval/low-rate.ts): a low-pass at 0.4 × the new rate against aliasing — two 2nd-order Butterworth
 * sections (together −6 dB at the corner), run forwards and backwards (zero phase, −12 dB at the
 * corner) — then linear interpolation.
 */
import { Biquad } from '../processor/detectors/biquad.ts';

/** `x` sampled at `fromHz`, as a front end at `toHz` would have sampled the same signal. */
export function resampleEcg(x: ArrayLike<number>, fromHz: number, toHz: number, antiAlias = true): Float64Array {
  const y = Float64Array.from(x as ArrayLike<number>);
  if (toHz < fromHz && antiAlias) {
    // Anti-aliasing: two Butterworth sections forwards, then backwards (no phase shift of the QRS).
    for (const backwards of [false, true]) {
      const filters = [Biquad.lowPass(0.4 * toHz, fromHz), Biquad.lowPass(0.4 * toHz, fromHz)];
      for (let i = 0; i < y.length; i++) {
        const k = backwards ? y.length - 1 - i : i;
        let v = y[k]!;
        for (const f of filters) v = f.step(v);
        y[k] = v;
      }
    }
  }
  const out = new Float64Array(Math.floor((x.length * toHz) / fromHz));
  for (let k = 0; k < out.length; k++) {
    const t = (k * fromHz) / toHz;
    const i = Math.min(y.length - 2, Math.floor(t));
    out[k] = y[i]! + (t - i) * (y[i + 1]! - y[i]!);
  }
  return out;
}

/** {@link resampleEcg} as int16 µV, what a device sends (device-protocol.md `ecg.uV`). */
export function resampleEcgInt16(x: ArrayLike<number>, fromHz: number, toHz: number, antiAlias = true): Int16Array {
  return Int16Array.from(resampleEcg(x, fromHz, toHz, antiAlias), (v) => Math.max(-32768, Math.min(32767, Math.round(v))));
}
