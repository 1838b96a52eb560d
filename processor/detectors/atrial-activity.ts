/**
 * Atrial activity from the ECG: is there a consistent P wave before the QRS complexes?
 *
 * In sinus rhythm (with or without atrial premature beats, noise-free) every conducted beat is
 * preceded by a P wave of the same shape at the same distance (the PR interval); in AF there is
 * no P wave, only fibrillatory f waves that bear no fixed relation to the QRS. So the segments
 * before each R peak, aligned on the R peak, average into a clear template in sinus rhythm and
 * into almost nothing in AF. This is the principle of P-wave-absence detectors (Ladavich &
 * Ghoraani, "Rate-independent detection of atrial fibrillation by statistical modeling of atrial
 * activity", Biomed Signal Process Control 18:274–281, 2015) and of Ródenas et al., "Wavelet
 * entropy automatically detects episodes of atrial fibrillation from single-lead
 * electrocardiograms", Entropy 17:6179–6199 (2015), who analyse the median TQ segment of the 10
 * previous beats: "the P-waves or the fibrillatory waves present in the recording were
 * highlighted or attenuated, respectively". We measure that directly: the mean correlation of
 * each beat's pre-R segment with the median segment of its neighbours (P-wave coherence,
 * 1 = identical P waves, ≈ 0 = no consistent atrial activity).
 *
 * The segment is 250 → 50 ms before the R peak (P wave and PR segment; normal PR 120–200 ms,
 * P duration ≤ 120 ms), each segment detrended by the line through its ends so baseline wander
 * and the ST/T level do not make every segment look alike, and band-limited by a 5-sample
 * (20 ms at 250 Hz) moving average against muscle noise. Ventricular beats have no P wave by
 * nature: callers pass only supraventricular beats (firmware classes N/S).
 */

/** Start and end of the pre-R segment, ms before the R peak. */
export const P_WINDOW_START_MS = 250;
export const P_WINDOW_END_MS = 50;
/**
 * A beat contributes a segment only when the previous R peak is at least this far before it, ms:
 * then the window starts ≥ 100 ms after the previous R, past its QRS complex.
 */
export const MIN_PRECEDING_RR_MS = P_WINDOW_START_MS + 100;
/**
 * Below this mean RR, ms, the window also holds the previous beat's T wave (it ends about a QT
 * after the previous R: ≈ 300 ms at 110 bpm by Bazett, QT ≈ 400 ms·√(RR/1 s), and the window
 * starts 250 ms before R). A T wave can pass for a consistent P wave, so at such rates a high
 * coherence is no evidence against AF (afib.ts then falls back to the RR-only rule); a low one
 * still shows that no consistent atrial wave precedes the QRS.
 */
export const TQ_WINDOW_MIN_RR_MS = 550;
/** Samples per segment after resampling (fixed so different sampling rates compare). */
export const P_WINDOW_POINTS = 50;

/**
 * The pre-R segment of one beat, resampled to {@link P_WINDOW_POINTS} points, smoothed and
 * detrended; undefined when the signal does not cover it.
 * @param signal ECG samples (any unit)
 * @param fsHz sampling rate
 * @param rIndex sample index of the R peak
 */
export function preRSegment(signal: ArrayLike<number>, fsHz: number, rIndex: number): Float64Array | undefined {
  const startIdx = rIndex - (P_WINDOW_START_MS * fsHz) / 1000;
  const endIdx = rIndex - (P_WINDOW_END_MS * fsHz) / 1000;
  const half = Math.max(1, Math.round((10 * fsHz) / 1000)); // ±10 ms moving average
  if (startIdx - half < 0 || endIdx + half >= signal.length) return undefined;
  const out = new Float64Array(P_WINDOW_POINTS);
  for (let k = 0; k < P_WINDOW_POINTS; k++) {
    const centre = Math.round(startIdx + ((endIdx - startIdx) * k) / (P_WINDOW_POINTS - 1));
    let sum = 0;
    for (let j = centre - half; j <= centre + half; j++) sum += signal[j]!;
    out[k] = sum / (2 * half + 1);
  }
  const first = out[0]!;
  const last = out[P_WINDOW_POINTS - 1]!;
  for (let k = 0; k < P_WINDOW_POINTS; k++) out[k]! -= first + ((last - first) * k) / (P_WINDOW_POINTS - 1);
  return out;
}

function correlation(a: Float64Array, b: Float64Array): number {
  let ma = 0;
  let mb = 0;
  for (let i = 0; i < a.length; i++) { ma += a[i]!; mb += b[i]!; }
  ma /= a.length;
  mb /= b.length;
  let sab = 0;
  let saa = 0;
  let sbb = 0;
  for (let i = 0; i < a.length; i++) {
    const da = a[i]! - ma;
    const db = b[i]! - mb;
    sab += da * db; saa += da * da; sbb += db * db;
  }
  return saa > 0 && sbb > 0 ? sab / Math.sqrt(saa * sbb) : 0;
}

/** Point-wise median of segments (the template; robust to a few ectopic or noisy beats). */
export function medianTemplate(segments: readonly Float64Array[]): Float64Array {
  const out = new Float64Array(P_WINDOW_POINTS);
  const column = new Float64Array(segments.length);
  for (let k = 0; k < P_WINDOW_POINTS; k++) {
    for (let s = 0; s < segments.length; s++) column[s] = segments[s]![k]!;
    column.sort();
    const m = segments.length >> 1;
    out[k] = segments.length % 2 ? column[m]! : (column[m - 1]! + column[m]!) / 2;
  }
  return out;
}

/**
 * P-wave coherence of a group of beats: the mean correlation of each segment with the median
 * template of the group, in [−1, 1]; NaN for fewer than 4 segments (no template).
 */
export function pWaveCoherence(segments: readonly Float64Array[]): number {
  if (segments.length < 4) return Number.NaN;
  const template = medianTemplate(segments);
  let sum = 0;
  for (const s of segments) sum += correlation(s, template);
  return sum / segments.length;
}

/**
 * Streaming P-wave coherence for one device's ECG: keeps the latest samples (a few seconds) and
 * the pre-R segments of the latest `groupBeats` beats; each beat yields the group's coherence.
 * Memory is bounded by the buffer and the group.
 */
export class AtrialActivityMeter {
  readonly groupBeats: number;
  #fsHz = 0;
  /** Ring of the latest samples and the absolute index of the next sample. */
  #ring: Float64Array = new Float64Array(0);
  #next = 0;
  #segments: Float64Array[] = [];
  /** Device time of absolute sample 0 (the stream's current continuous run), ms. */
  #t0Ms = 0;

  constructor(groupBeats = 12) {
    this.groupBeats = groupBeats;
  }

  /** Forget samples and segments (gap, lead-off, sampling-rate change). */
  reset(): void {
    this.#fsHz = 0;
    this.#next = 0;
    this.#segments = [];
  }

  /**
   * Appends samples that start at `startMs` (device time). A chunk that does not continue the
   * previous one (a hole of more than one sample, or another rate) restarts the buffer.
   */
  addSamples(startMs: number, fsHz: number, samples: ArrayLike<number>): void {
    const expectedMs = this.#t0Ms + (this.#next * 1000) / this.#fsHz;
    if (fsHz !== this.#fsHz || Math.abs(startMs - expectedMs) > 1000 / fsHz + 1) {
      this.#fsHz = fsHz;
      this.#ring = new Float64Array(Math.ceil(fsHz * 4)); // 4 s: the window plus frame jitter
      this.#next = 0;
      this.#t0Ms = startMs;
      this.#segments = [];
    }
    for (let i = 0; i < samples.length; i++) this.#ring[(this.#next + i) % this.#ring.length] = samples[i]!;
    this.#next += samples.length;
  }

  /**
   * A supraventricular beat's R peak at `timeMs`: adds its pre-R segment (when the buffer holds
   * it and the previous R peak, `precedingRrMs` before, is not inside the window) and returns the
   * coherence of the latest `groupBeats` segments (NaN until there are 4).
   */
  onBeat(timeMs: number, precedingRrMs = Infinity): number {
    if (this.#fsHz === 0) return Number.NaN;
    if (precedingRrMs > 0 && precedingRrMs < MIN_PRECEDING_RR_MS) return this.coherence();
    const rIndex = Math.round(((timeMs - this.#t0Ms) * this.#fsHz) / 1000);
    const first = Math.max(0, this.#next - this.#ring.length);
    // Copy the span the segment needs (with margin for the smoothing) out of the ring.
    const from = rIndex - Math.ceil(((P_WINDOW_START_MS + 20) * this.#fsHz) / 1000);
    const to = rIndex; // exclusive; the window ends 50 ms before R
    if (from < first || to > this.#next) return this.coherence();
    const span = new Float64Array(to - from);
    for (let i = 0; i < span.length; i++) span[i] = this.#ring[(from + i) % this.#ring.length]!;
    const seg = preRSegment(span, this.#fsHz, rIndex - from);
    if (seg) {
      this.#segments.push(seg);
      if (this.#segments.length > this.groupBeats) this.#segments.shift();
    }
    return this.coherence();
  }

  coherence(): number {
    return pWaveCoherence(this.#segments);
  }
}
