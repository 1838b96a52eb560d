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
 *
 * Second measure, f-wave evidence in the TQ interval: AF's fibrillatory waves are a continuous
 * oscillation whose dominant atrial frequency lies at 4–9 Hz (Bollmann et al., "Analysis of
 * surface electrocardiograms in atrial fibrillation: techniques, research, and clinical
 * applications", Europace 8:911–926, 2006; Sörnmo (ed.), "Atrial Fibrillation from an Engineering
 * Perspective", Springer 2018, ch. 4–5), while the TQ interval of sinus rhythm is iso-electric.
 * The ventricular activity is avoided by taking only the TQ interval — from the end of the
 * previous T wave to shortly before the QRS — instead of cancelling it (average-beat subtraction,
 * Stridh & Sörnmo, IEEE TBME 48:105–111, 2001, needs a whole-beat template per beat; the TQ
 * interval is the cheap alternative used by TQ-based f-wave analyses, e.g. the median TQ segment
 * of Ródenas et al. 2015). The measure is the fraction of the TQ interval's ECG power (1–40 Hz,
 * the diagnostic band) that lies in the atrial fibrillatory band 4–10 Hz: a few tenths for f
 * waves, about 0.1 for an iso-electric TQ with white or baseline noise. The band powers come from
 * band-pass filters run on the continuous signal (so the short TQ windows need no spectrum of
 * their own); the T wave is assumed to end a Bazett QT (QTc 400 ms) plus 50 ms after the previous
 * R peak, and the window stops 100 ms before the R peak (QRS onset and the filters' ringing).
 * That window also holds the P wave (≈ 250–100 ms before R), which raises the fraction too
 * (synthetic sinus P wave ≈ 0.2–0.25, f waves ≈ 0.3): afib.ts therefore does not use it by
 * default (`fWaveMin` ∞; EVALUATION.md §2b).
 */
import { Biquad } from './biquad.ts';
import { base64ToFloat32, base64ToInt16, float32ToBase64, int16ToBase64 } from '../int16-base64.ts';

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
/** The atrial fibrillatory band and the diagnostic band of the f-wave fraction, Hz. */
export const F_WAVE_BAND_HZ = [4, 10] as const;
export const ECG_BAND_HZ = [1, 40] as const;
/** The TQ window ends this long before the R peak, ms. */
export const TQ_END_BEFORE_R_MS = 100;
/**
 * Group delays of the two causal filter chains in the fibrillatory band, ms: the f-wave band's
 * 4th-order band-pass lags 86–136 ms (8–5 Hz; 105 ms at 6.5 Hz), the diagnostic band 9–15 ms
 * (measured on sinusoids at 250 and 300 Hz). Each filtered signal is read that much later, so
 * the band and the total power come from the same stretch of ECG, and the slow ringing of the
 * band filter after the previous T wave is not counted as f waves.
 */
export const FILTER_DELAY_MS = { band: 100, wide: 10 } as const;

/**
 * End of the previous beat's T wave, ms after its R peak, for a preceding interval `rrMs`:
 * Bazett's QT = QTc · √RR with QTc 400 ms (Bazett, Heart 7:353–370, 1920), plus 50 ms margin.
 */
export const tWaveEndMs = (rrMs: number) => 400 * Math.sqrt(rrMs / 1000) + 50;

/**
 * The TQ window of a beat, in samples relative to its R peak (`from` < `to` ≤ 0), or undefined
 * when the interval is too short to leave one.
 */
export function tqWindow(fsHz: number, precedingRrMs: number): { from: number; to: number } | undefined {
  if (!(precedingRrMs > 0 && Number.isFinite(precedingRrMs))) return undefined;
  const from = Math.ceil(((tWaveEndMs(precedingRrMs) - precedingRrMs) * fsHz) / 1000);
  const to = -Math.ceil((TQ_END_BEFORE_R_MS * fsHz) / 1000);
  return from < to ? { from, to } : undefined;
}

/**
 * Band-pass filters of the f-wave fraction for one stream: 4–10 Hz (two Butterworth high- and
 * two low-pass sections, so the band edges are steep enough to keep the P/T waves' low
 * frequencies out) and 1–40 Hz (one each).
 */
export class FWaveFilters {
  readonly #band: Biquad[];
  readonly #wide: Biquad[];

  constructor(fsHz: number) {
    const [lo, hi] = F_WAVE_BAND_HZ;
    const [wlo, whi] = ECG_BAND_HZ;
    this.#band = [Biquad.highPass(lo, fsHz), Biquad.highPass(lo, fsHz), Biquad.lowPass(hi, fsHz), Biquad.lowPass(hi, fsHz)];
    this.#wide = [Biquad.highPass(wlo, fsHz), Biquad.lowPass(Math.min(whi, fsHz * 0.45), fsHz)];
  }

  /** Filters one sample: [f-wave band, diagnostic band]. */
  step(x: number): [number, number] {
    let a = x;
    for (const f of this.#band) a = f.step(a);
    let w = x;
    for (const f of this.#wide) w = f.step(w);
    return [a, w];
  }
}

/**
 * The f-wave fraction of a group of beats: Σ band power / Σ diagnostic-band power over their TQ
 * windows; NaN with fewer than 4 windows or no power.
 */
export function fWaveFraction(windows: readonly { bandPower: number; widePower: number }[]): number {
  if (windows.length < 4) return Number.NaN;
  let a = 0;
  let w = 0;
  for (const x of windows) { a += x.bandPower; w += x.widePower; }
  return w > 0 ? a / w : Number.NaN;
}

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
 * What a successor needs to go on measuring exactly where a meter left off (a graceful hand-over,
 * afib.ts `pendingState`): the sampling clock, the latest raw samples (int16 base64, the
 * contract's range) and the group's pre-R segments (float32 base64: they are averages, not
 * samples; float32 moves a correlation by < 10⁻⁶). ≈ 3–4 kB at 250 Hz. Not for a meter that
 * measures f waves (off in production): its filters' state and filtered samples would have to go
 * too, so its successor starts empty as before.
 */
export interface AtrialMeterState {
  fsHz: number;
  t0Ms: number;
  /** Absolute index of the next sample; `samples` are the ones just before it. */
  next: number;
  samples: string;
  segments: string[];
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
  /** The same samples through the f-wave band and the diagnostic band (FWaveFilters). */
  #bandRing: Float64Array = new Float64Array(0);
  #wideRing: Float64Array = new Float64Array(0);
  #filters: FWaveFilters | undefined;
  #next = 0;
  /** Absolute index of the oldest sample the ring holds (above 0 only after {@link restore}). */
  #validFrom = 0;
  #segments: Float64Array[] = [];
  /** TQ-window powers of the latest `groupBeats` beats that had a TQ window. */
  #tq: { bandPower: number; widePower: number }[] = [];
  /** Device time of absolute sample 0 (the stream's current continuous run), ms. */
  #t0Ms = 0;

  /** Whether the f-wave fraction is measured (its filters cost ~6 biquad steps per sample). */
  readonly fWaves: boolean;

  constructor(groupBeats = 12, fWaves = true) {
    this.groupBeats = groupBeats;
    this.fWaves = fWaves;
  }

  /** Forget samples and segments (gap, lead-off, sampling-rate change). */
  reset(): void {
    this.#fsHz = 0;
    this.#next = 0;
    this.#validFrom = 0;
    this.#segments = [];
    this.#tq = [];
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
      this.#bandRing = new Float64Array(this.fWaves ? this.#ring.length : 0);
      this.#wideRing = new Float64Array(this.fWaves ? this.#ring.length : 0);
      this.#filters = this.fWaves ? new FWaveFilters(fsHz) : undefined;
      this.#next = 0;
      this.#validFrom = 0;
      this.#t0Ms = startMs;
      this.#segments = [];
      this.#tq = [];
    }
    const n = this.#ring.length;
    const filters = this.#filters;
    for (let i = 0; i < samples.length; i++) {
      const k = (this.#next + i) % n;
      const x = samples[i]!;
      this.#ring[k] = x;
      if (!filters) continue;
      const [a, w] = filters.step(x);
      this.#bandRing[k] = a;
      this.#wideRing[k] = w;
    }
    this.#next += samples.length;
  }

  /**
   * A supraventricular beat's R peak at `timeMs`: adds its pre-R segment (when the buffer holds
   * it and the previous R peak, `precedingRrMs` before, is not inside the window) and returns the
   * coherence of the latest `groupBeats` segments (NaN until there are 4).
   */
  onBeat(timeMs: number, precedingRrMs = Infinity): number {
    if (this.#fsHz === 0) return Number.NaN;
    const rIndex = Math.round(((timeMs - this.#t0Ms) * this.#fsHz) / 1000);
    const first = this.#first();
    this.#addTqWindow(rIndex, first, precedingRrMs);
    if (precedingRrMs > 0 && precedingRrMs < MIN_PRECEDING_RR_MS) return this.coherence();
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

  /** Absolute index of the oldest sample still in the ring. */
  #first(): number {
    return Math.max(this.#validFrom, this.#next - this.#ring.length);
  }

  /**
   * The meter's state for a successor, keeping the samples from the pre-R window of a beat at
   * `fromMs` (device time: the latest beat it was given; later beats may still lie in these
   * samples) on. Undefined before any ECG, and when f waves are measured ({@link AtrialMeterState}).
   */
  state(fromMs: number): AtrialMeterState | undefined {
    if (this.#fsHz === 0 || this.fWaves) return undefined;
    const from = Math.max(this.#first(), Math.floor(((fromMs - this.#t0Ms) * this.#fsHz) / 1000) - Math.ceil(((P_WINDOW_START_MS + 20) * this.#fsHz) / 1000));
    const samples: number[] = [];
    for (let i = Math.min(from, this.#next); i < this.#next; i++) samples.push(this.#ring[i % this.#ring.length]!);
    return {
      fsHz: this.#fsHz,
      t0Ms: this.#t0Ms,
      next: this.#next,
      samples: int16ToBase64(samples),
      segments: this.#segments.map((seg) => float32ToBase64(seg)),
    };
  }

  /** Takes over a predecessor's {@link state}: the next chunk that continues its samples continues the measure. */
  restore(state: AtrialMeterState): void {
    this.reset();
    if (this.fWaves) return;
    this.#fsHz = state.fsHz;
    this.#t0Ms = state.t0Ms;
    this.#ring = new Float64Array(Math.ceil(state.fsHz * 4));
    const all = base64ToInt16(state.samples);
    const samples = all.subarray(all.length - Math.min(all.length, this.#ring.length, state.next));
    this.#next = state.next;
    this.#validFrom = state.next - samples.length;
    for (let i = 0; i < samples.length; i++) this.#ring[(this.#validFrom + i) % this.#ring.length] = samples[i]!;
    this.#segments = state.segments
      .slice(-this.groupBeats)
      .filter((b64) => Buffer.byteLength(b64, 'base64') === 4 * P_WINDOW_POINTS)
      .map((b64) => Float64Array.from(base64ToFloat32(b64)));
  }

  /** ECG has arrived since the last reset (the coherence may still be NaN while the group fills). */
  get measuring(): boolean {
    return this.#fsHz > 0;
  }

  /** The f-wave fraction of the latest beats' TQ windows (NaN until 4 beats had one). */
  fWaveFraction(): number {
    return fWaveFraction(this.#tq);
  }

  /** Band powers over the beat's TQ window, when the buffer holds it. */
  #addTqWindow(rIndex: number, first: number, precedingRrMs: number): void {
    const w = this.fWaves ? tqWindow(this.#fsHz, precedingRrMs) : undefined;
    if (!w) return;
    // Each filtered signal is read later by its group delay, so both windows cover the same ECG.
    const dBand = Math.round((FILTER_DELAY_MS.band * this.#fsHz) / 1000);
    const dWide = Math.round((FILTER_DELAY_MS.wide * this.#fsHz) / 1000);
    const from = Math.max(first - dWide, rIndex + w.from);
    const to = rIndex + w.to;
    if (to + dBand > this.#next || to - from < (50 * this.#fsHz) / 1000) return; // < 50 ms: nothing to measure
    let a = 0;
    let b = 0;
    const n = this.#ring.length;
    for (let i = from; i < to; i++) {
      a += this.#bandRing[(i + dBand) % n]! ** 2;
      b += this.#wideRing[(i + dWide) % n]! ** 2;
    }
    this.#tq.push({ bandPower: a, widePower: b });
    if (this.#tq.length > this.groupBeats) this.#tq.shift();
  }
}
