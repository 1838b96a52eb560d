import { describe, expect, it } from 'vitest';
import { NORMAL_RR_BOUNDS_MS, SinusRhythm, sdnnMs, sinusBeats } from '../../device-sim/rhythm.ts';

/** RR intervals of the first `spanMs` of a rhythm. */
function rrSeries(seed: number, spanMs = 300_000): number[] {
  const times: number[] = [];
  for (const b of sinusBeats(new SinusRhythm({ seed }), 0)) {
    if (b.tMs > spanMs) break;
    times.push(b.tMs);
  }
  return times.slice(1).map((t, i) => t - (times[i] as number));
}

describe('sinus rhythm generator', () => {
  it('gives each of 20 devices a resting rate of 60–85 bpm and a short-term SDNN of 25–70 ms over 5 minutes', () => {
    const outside = Array.from({ length: 20 }, (_, i) => i + 1).flatMap((seed) => {
      const rr = rrSeries(seed);
      const hr = 60_000 / (rr.reduce((s, x) => s + x, 0) / rr.length);
      const sdnn = sdnnMs(rr);
      return hr >= 58 && hr <= 87 && sdnn >= 25 && sdnn <= 70 ? [] : [{ seed, hr, sdnn }];
    });
    expect(outside).toEqual([]);
  });

  it('never produces a constant rhythm: many distinct RR values and beat-to-beat changes', () => {
    const rr = rrSeries(3);
    expect(new Set(rr).size).toBeGreaterThan(50);
    expect(rr.slice(1).filter((x, i) => x !== rr[i]).length).toBeGreaterThan(rr.length * 0.8);
  });

  it('follows breathing: RR correlates with a sinusoid at the respiration rate', () => {
    const rhythm = new SinusRhythm({ seed: 11, params: { lfAmplitudeMs: 0, vlfAmplitudeMs: 0, noiseSdMs: 2, rsaAmplitudeMs: 40, respirationHz: 0.25 } });
    const times: number[] = [];
    for (const b of sinusBeats(rhythm, 0)) {
      if (b.tMs > 120_000) break;
      times.push(b.tMs);
    }
    // Power of the RR series at 0.25 Hz against 0.05 Hz (a frequency with no modulation).
    const power = (hz: number) => {
      let re = 0;
      let im = 0;
      times.slice(1).forEach((t, i) => {
        const rr = t - (times[i] as number) - rhythm.meanRrMs;
        re += rr * Math.cos((2 * Math.PI * hz * t) / 1000);
        im += rr * Math.sin((2 * Math.PI * hz * t) / 1000);
      });
      return re * re + im * im;
    };
    expect(power(0.25)).toBeGreaterThan(20 * power(0.05));
  });

  it('keeps normal RR inside 500–1300 ms so no scenario threshold is crossed by chance', () => {
    const all = Array.from({ length: 10 }, (_, i) => rrSeries(100 + i, 600_000)).flat();
    expect([Math.min(...all) >= NORMAL_RR_BOUNDS_MS.min, Math.max(...all) <= NORMAL_RR_BOUNDS_MS.max]).toEqual([true, true]);
  });

  it('is reproducible per seed and differs between seeds', () => {
    expect(rrSeries(5, 60_000)).toEqual(rrSeries(5, 60_000));
    expect(rrSeries(5, 60_000)).not.toEqual(rrSeries(6, 60_000));
  });
});
