import { describe, expect, it } from 'vitest';
import { readWfdbRecord } from '../../../device-sim/wfdb-record.ts';
import { vfFilterLeakage, VfLeakageMeter, VF_WINDOW_MS } from '../../../processor/detectors/vf-leakage.ts';

const FS = 250;
const ECG = '/work/shared/data/ecg';

/** Sum of Gaussian waves per beat (lead-II-like), µV. */
function beats(rrMs: number, seconds: number, waves: [atMs: number, uV: number, sdMs: number][]): Float64Array {
  const x = new Float64Array(seconds * FS);
  for (let r = 200; r < seconds * 1000 + 600; r += rrMs) {
    for (let i = 0; i < x.length; i++) {
      const t = (i * 1000) / FS;
      for (const [at, uV, sd] of waves) x[i]! += uV * Math.exp(-(((t - r - at) / sd) ** 2) / 2);
    }
  }
  return x;
}
const SINUS: [number, number, number][] = [[-170, 120, 22], [-28, -90, 8], [0, 1100, 9], [26, -220, 9], [280, 280, 45]];
const VENTRICULAR: [number, number, number][] = [[-40, -150, 20], [0, 1400, 28], [70, -400, 30], [320, -350, 60]];

/** Deterministic pseudo-random numbers in [-1, 1). */
function noise(n: number, seed = 1): Float64Array {
  let s = seed;
  return Float64Array.from({ length: n }, () => ((s = (s * 1103515245 + 12345) % 2 ** 31) / 2 ** 30) - 1);
}

/** Lowest leakage of the windows ending at each 1 s chunk from `fromS` on. */
function lowest(x: ArrayLike<number>, fromS: number, chunk = FS): number {
  const m = new VfLeakageMeter(FS);
  let low = 1;
  for (let i = 0; i < x.length; i += chunk) {
    m.push(Array.prototype.slice.call(x, i, i + chunk));
    if ((i + chunk) / FS >= fromS && (i + chunk) % FS === 0) low = Math.min(low, m.leakage());
  }
  return low;
}

describe('VF-filter leakage (Kuo & Dillman 1978)', () => {
  it('a sinusoid cancels itself half a period later: leakage near 0', () => {
    const x = Float64Array.from({ length: 4 * FS }, (_, i) => 500 * Math.sin((2 * Math.PI * 4 * i) / FS));
    expect(vfFilterLeakage(x)).toBeLessThan(0.1);
  });

  it('synthetic sinus rhythm (narrow QRS, 75 bpm) leaks most, noise less, monomorphic VT (wide QRS, 180 bpm) and VF (≈ 4.7 Hz) little', () => {
    const sinus = lowest(beats(800, 12, SINUS), 6);
    const vt = lowest(beats(333, 12, VENTRICULAR), 6);
    const vf = lowest(Float64Array.from({ length: 12 * FS }, (_, i) => { const t = i / FS; return 300 * Math.sin(2 * Math.PI * 4.7 * t + 0.8 * Math.sin(2 * Math.PI * 0.4 * t)) * (1 + 0.3 * Math.sin(2 * Math.PI * 0.25 * t)); }), 6);
    const white = lowest(noise(12 * FS).map((v) => 300 * v), 6);
    expect(sinus).toBeGreaterThan(0.75);
    expect(vt).toBeLessThan(0.6);
    expect(vf).toBeLessThan(0.3);
    // Broadband noise (0.5–40 Hz after the filter) sits in between (≈ 0.66), just above the
    // threshold the CinC 2015 cross-validation chose (0.65): noise is where this evidence costs
    // specificity (EVALUATION.md §6).
    expect(white).toBeGreaterThan(0.6);
    expect(white).toBeLessThan(sinus);
    expect(vf).toBeLessThan(vt);
  });

  it('no evidence before a full window, for a flat line, after reset; any chunking gives the same value', () => {
    const x = beats(333, 10, VENTRICULAR);
    const m = new VfLeakageMeter(FS);
    m.push(x.subarray(0, (VF_WINDOW_MS * FS) / 1000 - 1));
    expect(m.ready).toBe(false);
    expect(m.leakage()).toBe(1);
    m.push(x.subarray((VF_WINDOW_MS * FS) / 1000 - 1));
    expect(m.leakage()).toBeLessThan(0.6);
    const whole = m.leakage();
    const c = new VfLeakageMeter(FS);
    for (let i = 0; i < x.length; i += 37) c.push(x.subarray(i, i + 37));
    expect(c.leakage()).toBeCloseTo(whole, 12);
    m.reset();
    expect(m.leakage()).toBe(1);
    const flat = new VfLeakageMeter(FS);
    flat.push(new Float64Array(5 * FS).fill(1234));
    expect(flat.leakage()).toBe(1);
  });

  it('real CinC 2015 alarms, lead II up to the alarm: true VT v797l (whose complexes the QRS detector misses) is sinusoid-like, false alarm v140s is not', async () => {
    const at = async (name: string) => {
      const r = await readWfdbRecord(`${ECG}/challenge2015/${name}`);
      expect(r.ecg!.description).toBe('II');
      return lowest(r.ecg!.uV.subarray(0, 300 * FS), 294);
    };
    const vt = await at('v797l');
    const falseAlarm = await at('v140s');
    expect(vt).toBeLessThan(0.6);
    expect(falseAlarm).toBeGreaterThan(0.7);
  });
});
