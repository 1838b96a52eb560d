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
 * Pure: no I/O, no clock; fixed memory (the filtered lead's last {@link FILTERED_HISTORY_MS}: the
 * 4 s window, and before it what the vt detector's complex similarity reads); one instance per lead.
 */
import { z } from 'zod';
import { Biquad, biquadMemorySchema, type BiquadMemory } from './biquad.ts';
import { base64ToFloat64, base64ToInt16, float64ToBase64, int16ToBase64 } from '../int16-base64.ts';

/** Analysis window, ms (fhir-and-alarms.md §5: fibrillatory, flutter or oscillatory waveform ≥ 4 s). */
export const VF_WINDOW_MS = 4000;

/**
 * How much of the filtered lead the meter keeps, ms: the 4 s window and 8 s before it. The vt
 * detector's complex similarity (complex-similarity.ts) reads a run's complexes from it when the
 * run's 5th beat arrives. Beats derived from the ECG arrive up to a frame (≤ 5 s, device-protocol.md)
 * plus the beat source's lag (≈ 0.6 s, up to ≈ 2 s while a search-back is possible) after their
 * ECG, and a qualifying run spans < 2.4 s (mean V–V < 600 ms): ≈ 10 s before the newest sample.
 * Until session 30 the meter kept the 4 s window only, so with frames longer than 1 s the run's
 * first complexes were gone, the check was skipped, and runs of noise the check rejects in 1 s
 * frames raised `vt` (CinC 2015: 3 more false VT alarms at 2–5 s frames, EVALUATION.md §6).
 */
export const FILTERED_HISTORY_MS = 12_000;

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
 * {@link VfLeakageMeter.state}: the input since the oldest sample the meter holds, by push, each
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

/**
 * The window in time order, for one reading at a time: shared by every meter of a sampling rate
 * (a reading is synchronous), so a stream keeps only its ring.
 */
const windowScratches = new Map<number, Float64Array>();
function windowScratch(length: number): Float64Array {
  let w = windowScratches.get(length);
  if (!w) windowScratches.set(length, (w = new Float64Array(length)));
  return w;
}

/** Streams one lead and tells the VF-filter leakage of its last {@link VF_WINDOW_MS}. */
export class VfLeakageMeter {
  readonly fsHz: number;
  readonly #hp: Biquad;
  readonly #lp: Biquad;
  readonly #ring: Float64Array;
  /** Samples in the 4 s window. */
  readonly #windowLength: number;
  #n = 0;
  /** The oldest sample index held at all: 0, or where a restored {@link state} began. */
  #heldFrom = 0;
  #dc = 0;
  /** The pushes that hold the kept samples, oldest first (references to the callers' arrays), for {@link state}. */
  #chunks: { n0: number; hp: BiquadMemory; lp: BiquadMemory; samples: ArrayLike<number> }[] = [];

  constructor(fsHz: number) {
    if (!(fsHz >= 100 && fsHz <= 2000)) throw new RangeError(`VF leakage: fs ${fsHz} Hz outside 100–2000 Hz`);
    this.fsHz = fsHz;
    this.#hp = Biquad.highPass(0.5, fsHz);
    this.#lp = Biquad.lowPass(Math.min(40, fsHz * 0.4), fsHz);
    this.#windowLength = Math.round((VF_WINDOW_MS * fsHz) / 1000);
    this.#ring = new Float64Array(Math.round((FILTERED_HISTORY_MS * fsHz) / 1000));
  }

  /** A full window has been seen since the start or the last reset. */
  get ready(): boolean {
    return this.#n >= this.#windowLength;
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
   * What a successor needs to hold exactly this window (see {@link VfMeterState}) and the filtered
   * samples from index `keepFrom` on (default: the window's; earlier ones it then reads as not
   * held); for a graceful hand-over (vt.ts). Samples go as int16 when they all are (the contract's
   * µV), else as float64.
   */
  state(keepFrom = this.#n - this.#windowLength): VfMeterState {
    const from = Math.min(keepFrom, this.#n - this.#windowLength);
    let first = 0;
    while (first + 1 < this.#chunks.length && this.#chunks[first + 1]!.n0 <= from) first++;
    return {
      v: 1,
      fsHz: this.fsHz,
      n: this.#n,
      dc: this.#dc,
      chunks: this.#chunks.slice(first).map((c) => {
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
    m.#heldFrom = first.n0;
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
    const len = this.#windowLength;
    const window = windowScratch(len);
    const ringLen = this.#ring.length;
    const start = this.#n - len;
    let lo = Infinity;
    let hi = -Infinity;
    for (let i = 0; i < len; i++) {
      const v = (window[i] = this.#ring[(start + i) % ringLen]!);
      if (v < lo) lo = v;
      if (v > hi) hi = v;
    }
    const { leakage, halfPeriod } = vfFilter(window);
    return { leakage, meanHz: halfPeriod > 0 ? this.fsHz / (2 * halfPeriod) : 0, peakToPeakUv: hi - lo };
  }

  /** Samples consumed since the start or the last reset. */
  get sampleCount(): number {
    return this.#n;
  }

  /** The filtered (0.5–40 Hz) sample with index `i` since the start or last reset; NaN when no longer (or not yet) held. */
  filteredAt(i: number): number {
    return i >= this.#heldFrom && i < this.#n && i >= this.#n - this.#ring.length ? this.#ring[i % this.#ring.length]! : Number.NaN;
  }

  /** Forgets the window (lead-off, gap, fs change). */
  reset(): void {
    this.#hp.reset();
    this.#lp.reset();
    this.#ring.fill(0);
    this.#n = 0;
    this.#heldFrom = 0;
    this.#chunks = [];
  }
}
