/**
 * Second-order IIR section (direct form I) with Butterworth high- and low-pass designs for any
 * sampling rate: bilinear transform with pre-warping, Q = 1/√2 (R. Bristow-Johnson, "Cookbook
 * formulae for audio EQ biquad filter coefficients"). Used by the QRS detector so 125–1000 Hz
 * ECG get the same frequency response.
 */
import { z } from 'zod';
/** {@link Biquad.memory}: x[n−1], x[n−2], y[n−1], y[n−2]. */
export type BiquadMemory = [number, number, number, number];

/** {@link BiquadMemory} as it comes back from the changelog. */
export const biquadMemorySchema = z.tuple([z.number(), z.number(), z.number(), z.number()]);

export class Biquad {
  readonly #b0: number; readonly #b1: number; readonly #b2: number; readonly #a1: number; readonly #a2: number;
  #x1 = 0; #x2 = 0; #y1 = 0; #y2 = 0;

  private constructor(b0: number, b1: number, b2: number, a0: number, a1: number, a2: number) {
    this.#b0 = b0 / a0; this.#b1 = b1 / a0; this.#b2 = b2 / a0; this.#a1 = a1 / a0; this.#a2 = a2 / a0;
  }

  static lowPass(cornerHz: number, fsHz: number): Biquad {
    const { cos, alpha } = Biquad.#prewarp(cornerHz, fsHz);
    return new Biquad((1 - cos) / 2, 1 - cos, (1 - cos) / 2, 1 + alpha, -2 * cos, 1 - alpha);
  }

  static highPass(cornerHz: number, fsHz: number): Biquad {
    const { cos, alpha } = Biquad.#prewarp(cornerHz, fsHz);
    return new Biquad((1 + cos) / 2, -(1 + cos), (1 + cos) / 2, 1 + alpha, -2 * cos, 1 - alpha);
  }

  static #prewarp(cornerHz: number, fsHz: number): { cos: number; alpha: number } {
    if (!(cornerHz > 0 && cornerHz < fsHz / 2)) throw new RangeError(`filter corner ${cornerHz} Hz must lie in (0, ${fsHz / 2}) Hz`);
    const w0 = (2 * Math.PI * cornerHz) / fsHz;
    return { cos: Math.cos(w0), alpha: Math.sin(w0) / (2 * Math.SQRT1_2) };
  }

  step(x: number): number {
    const y = this.#b0 * x + this.#b1 * this.#x1 + this.#b2 * this.#x2 - this.#a1 * this.#y1 - this.#a2 * this.#y2;
    this.#x2 = this.#x1; this.#x1 = x; this.#y2 = this.#y1; this.#y1 = y;
    return y;
  }

  reset(): void {
    this.#x1 = this.#x2 = this.#y1 = this.#y2 = 0;
  }

  /** The filter's memory (last two inputs and outputs), for an exact hand-over (qrs-detector.ts `snapshot`). */
  memory(): BiquadMemory {
    return [this.#x1, this.#x2, this.#y1, this.#y2];
  }

  /** Continues from another section's {@link memory} (same design). */
  restoreMemory([x1, x2, y1, y2]: Readonly<BiquadMemory>): void {
    this.#x1 = x1; this.#x2 = x2; this.#y1 = y1; this.#y2 = y2;
  }
}
