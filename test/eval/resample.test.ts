/**
 * eval/resample.ts: what eval/low-rate.ts feeds the ECG-only path must be the same signal at the
 * lower rate (in-band waves kept in amplitude and phase), with what the lower rate cannot carry
 * removed (no aliasing).
 */
import { describe, expect, it } from 'vitest';
import { resampleEcg } from '../../eval/resample.ts';

const sine = (hz: number, fsHz: number, seconds: number) => Float64Array.from({ length: Math.round(fsHz * seconds) }, (_, i) => Math.sin((2 * Math.PI * hz * i) / fsHz));
const rms = (x: ArrayLike<number>, from: number, to: number) => {
  let s = 0;
  for (let i = from; i < to; i++) s += x[i]! ** 2;
  return Math.sqrt(s / (to - from));
};

describe('ECG resampled to a lower rate (eval/low-rate.ts)', () => {
  it('keeps a 10 Hz wave (QRS band) in amplitude and phase from 360 to 125 Hz', () => {
    const out = resampleEcg(sine(10, 360, 10), 360, 125);
    expect(out).toHaveLength(1250);
    // Away from the ends (the filter settles): the same sine at the new sample times, within 3 % of its amplitude.
    for (let k = 125; k < 1125; k++) expect(Math.abs(out[k]! - Math.sin((2 * Math.PI * 10 * k) / 125))).toBeLessThan(0.03);
  });

  it('removes what 125 Hz cannot carry: a 100 Hz wave (above its 62.5 Hz Nyquist limit) is attenuated ≥ 20 dB instead of aliasing to 25 Hz', () => {
    const out = resampleEcg(sine(100, 360, 10), 360, 125);
    expect(rms(out, 125, 1125)).toBeLessThan(0.1 * Math.SQRT1_2);
    // Without the filter it folds back at full strength.
    expect(rms(resampleEcg(sine(100, 360, 10), 360, 125, false), 125, 1125)).toBeGreaterThan(0.5);
  });
});
