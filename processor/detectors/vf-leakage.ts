/**
 * VF-filter leakage of the ECG: how sinusoid-like the last 4 s of one lead are — low for the
 * organised, sinusoidal waveform of ventricular flutter / fast VT and for VF, high for narrow QRS
 * complexes separated by flat segments (sinus rhythm) and for broadband noise.
 *
 * Method: the "VF filter" of Kuo & Dillman (Computer detection of ventricular fibrillation,
 * Computers in Cardiology 1978, 347–349) as described and compared among VF/VT detectors in Amann,
 * Tratnig & Unterkofler (BioMed Eng OnLine 4:60, 2005): over a window, the mean period is
 * estimated as N = ⌊π·Σ|xᵢ| / Σ|xᵢ − xᵢ₋₁| + ½⌋ samples (for a sinusoid this is half its period),
 * and the leakage is l = Σ|xᵢ + xᵢ₋N| / Σ(|xᵢ| + |xᵢ₋N|): a signal that is cancelled by itself
 * half a period later (a sinusoid) leaks little (l → 0), anything else leaks (l → 1).
 * The window is 4 s (the VF/flutter criterion of fhir-and-alarms.md §5: ≥ 4 s), the signal
 * 0.5–40 Hz (baseline wander and mains removed, as the QRS detector's wide band).
 *
 * VT evidence that does not need beats (VT whose complexes the QRS detector misses or labels like
 * sinus beats): the vt detector (vt.ts) raises `vt` when the leakage is below the per-patient
 * `vt.leakageBelow` (default 0.65, chosen by cross-validation on the CinC 2015 VT alarms,
 * EVALUATION.md §6); the evaluation (eval/challenge2015.ts) also measures it per lead for its grid.
 * Pure: no I/O, no clock; fixed memory (one 4 s window); one instance per lead.
 */
import { z } from 'zod';
import { Biquad, biquadMemorySchema, type BiquadMemory } from './biquad.ts';
import { base64ToFloat64, base64ToInt16, float64ToBase64, int16ToBase64 } from '../int16-base64.ts';

/** Analysis window, ms (fhir-and-alarms.md §5: fibrillatory, flutter or oscillatory waveform ≥ 4 s). */
export const VF_WINDOW_MS = 4000;

/** VF-filter leakage of `x` (any linear unit, DC-free): 0 = a pure sinusoid, → 1 = no periodic cancellation. */
export function vfFilterLeakage(x: ArrayLike<number>): number {
  return vfFilter(x).leakage;
}

/** The leakage and the filter's half-period estimate N in samples (0 when there is none). */
function vfFilter(x: ArrayLike<number>): { leakage: number; halfPeriod: number } {
  let sumAbs = 0;
  let sumDiff = 0;
  for (let i = 0; i < x.length; i++) {
    sumAbs += Math.abs(x[i]!);
    if (i > 0) sumDiff += Math.abs(x[i]! - x[i - 1]!);
  }
  if (sumDiff === 0) return { leakage: 1, halfPeriod: 0 };
  const n = Math.floor(Math.PI * (sumAbs / sumDiff) + 0.5);
  if (n < 1 || n >= x.length) return { leakage: 1, halfPeriod: 0 };
  let num = 0;
  let den = 0;
  for (let i = n; i < x.length; i++) {
    num += Math.abs(x[i]! + x[i - n]!);
    den += Math.abs(x[i]!) + Math.abs(x[i - n]!);
  }
  return { leakage: den > 0 ? num / den : 1, halfPeriod: n };
}

/** One window's VF-filter reading, with what tells a ventricular oscillation from baseline and noise. */
export interface VfReading {
  leakage: number;
  /** The oscillation's frequency as the filter estimates it (fs / 2N), Hz; 0 = none. */
  meanHz: number;
  /** Peak-to-peak amplitude of the filtered (0.5–40 Hz) window, µV. */
  peakToPeakUv: number;
}

/**
 * {@link VfLeakageMeter.state}: the input since the oldest sample the window holds, by push, each
 * with the filters' memory before it. A successor filters it again and holds exactly the same window
 * (the same operations on the same numbers) — the raw input is int16 in the contract, a quarter of
 * the filtered window's float64.
 */
export interface VfMeterState {
  v: 1;
  fsHz: number;
  n: number;
  dc: number;
  chunks: { n0: number; hp: BiquadMemory; lp: BiquadMemory; uV: string; float64?: true }[];
}

export const vfMeterStateSchema = z.object({
  v: z.literal(1),
  fsHz: z.number().min(100).max(2000),
  n: z.number().int().nonnegative(),
  dc: z.number(),
  chunks: z.array(z.object({ n0: z.number().int().nonnegative(), hp: biquadMemorySchema, lp: biquadMemorySchema, uV: z.base64(), float64: z.literal(true).optional() })),
});

/** Streams one lead and tells the VF-filter leakage of its last {@link VF_WINDOW_MS}. */
export class VfLeakageMeter {
  readonly fsHz: number;
  readonly #hp: Biquad;
  readonly #lp: Biquad;
  readonly #ring: Float64Array;
  readonly #window: Float64Array;
  #n = 0;
  #dc = 0;
  /** The pushes that hold the window's samples, oldest first (references to the callers' arrays), for {@link state}. */
  #chunks: { n0: number; hp: BiquadMemory; lp: BiquadMemory; samples: ArrayLike<number> }[] = [];

  constructor(fsHz: number) {
    if (!(fsHz >= 100 && fsHz <= 2000)) throw new RangeError(`VF leakage: fs ${fsHz} Hz outside 100–2000 Hz`);
    this.fsHz = fsHz;
    this.#hp = Biquad.highPass(0.5, fsHz);
    this.#lp = Biquad.lowPass(Math.min(40, fsHz * 0.4), fsHz);
    this.#ring = new Float64Array(Math.round((VF_WINDOW_MS * fsHz) / 1000));
    this.#window = new Float64Array(this.#ring.length);
  }

  /** A full window has been seen since the start or the last reset. */
  get ready(): boolean {
    return this.#n >= this.#ring.length;
  }

  /** Consumes samples (µV). */
  push(samples: ArrayLike<number>): void {
    if (samples.length === 0) return;
    this.#chunks.push({ n0: this.#n, hp: this.#hp.memory(), lp: this.#lp.memory(), samples });
    for (let k = 0; k < samples.length; k++) {
      // Start the filters at the signal's level: an electrode offset is not a step.
      if (this.#n === 0) this.#dc = samples[k]!;
      this.#ring[this.#n % this.#ring.length] = this.#lp.step(this.#hp.step(samples[k]! - this.#dc));
      this.#n++;
    }
    const oldestHeld = this.#n - this.#ring.length;
    let drop = 0;
    while (drop + 1 < this.#chunks.length && this.#chunks[drop + 1]!.n0 <= oldestHeld) drop++;
    if (drop > 0) this.#chunks.splice(0, drop);
  }

  /**
   * What a successor needs to hold exactly this window (see {@link VfMeterState}); for a graceful
   * hand-over (vt.ts). Samples go as int16 when they all are (the contract's µV), else as float64.
   */
  state(): VfMeterState {
    return {
      v: 1,
      fsHz: this.fsHz,
      n: this.#n,
      dc: this.#dc,
      chunks: this.#chunks.map((c) => {
        const int16 = Array.prototype.every.call(c.samples, (v: number) => Number.isInteger(v) && v >= -32768 && v <= 32767);
        return { n0: c.n0, hp: c.hp, lp: c.lp, uV: int16 ? int16ToBase64(c.samples) : float64ToBase64(c.samples), ...(int16 ? {} : { float64: true as const }) };
      }),
    };
  }

  /** A meter holding the window of a {@link state}; undefined when the state does not add up (its pushes do not end at its sample count). */
  static restore(state: VfMeterState): VfLeakageMeter | undefined {
    const m = new VfLeakageMeter(state.fsHz);
    const first = state.chunks[0];
    if (!first) return state.n === 0 ? m : undefined;
    m.#n = first.n0;
    m.#dc = state.dc;
    m.#hp.restoreMemory(first.hp);
    m.#lp.restoreMemory(first.lp);
    for (const c of state.chunks) {
      if (c.n0 !== m.#n) return undefined;
      m.push(c.float64 ? base64ToFloat64(c.uV) : base64ToInt16(c.uV));
    }
    return m.#n === state.n ? m : undefined;
  }

  /** Leakage of the last window; 1 (no evidence) until a full window has been seen. */
  leakage(): number {
    return this.reading().leakage;
  }

  /** Leakage, frequency and amplitude of the last window; no evidence (leakage 1) until a full window has been seen. */
  reading(): VfReading {
    if (!this.ready) return { leakage: 1, meanHz: 0, peakToPeakUv: 0 };
    const len = this.#ring.length;
    const start = this.#n % len;
    let lo = Infinity;
    let hi = -Infinity;
    for (let i = 0; i < len; i++) {
      const v = (this.#window[i] = this.#ring[(start + i) % len]!);
      if (v < lo) lo = v;
      if (v > hi) hi = v;
    }
    const { leakage, halfPeriod } = vfFilter(this.#window);
    return { leakage, meanHz: halfPeriod > 0 ? this.fsHz / (2 * halfPeriod) : 0, peakToPeakUv: hi - lo };
  }

  /** Samples consumed since the start or the last reset. */
  get sampleCount(): number {
    return this.#n;
  }

  /** The filtered (0.5–40 Hz) sample with index `i` since the start or last reset; NaN when no longer (or not yet) held. */
  filteredAt(i: number): number {
    return i >= 0 && i < this.#n && i >= this.#n - this.#ring.length ? this.#ring[i % this.#ring.length]! : Number.NaN;
  }

  /** Forgets the window (lead-off, gap, fs change). */
  reset(): void {
    this.#hp.reset();
    this.#lp.reset();
    this.#ring.fill(0);
    this.#n = 0;
    this.#chunks = [];
  }
}
