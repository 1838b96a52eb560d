/**
 * Streaming RR-irregularity measure for AF detection, after Petrėnas, Marozas & Sörnmo,
 * "Low-complexity detection of atrial fibrillation in continuous long-term monitoring",
 * Comput Biol Med 65:184–191 (2015) — MIT-BIH AFDB Se 97.1 % / Sp 98.3 % (fhir-and-alarms.md §6).
 *
 * Per RR interval r(n) (seconds):
 *  1. Ectopic-beat filter: rm(n) = median{r(n−1), r(n), r(n+1)}. An isolated premature beat
 *     (short RR + compensatory long RR) and trigeminy disappear from rm.
 *  2. RR trend: rt(n) = exponential average of r (factor α).
 *  3. Irregularity: M(n) = fraction of the N(N−1)/2 pairs of rm in the last N intervals that
 *     differ by ≥ γ; Mt = exponential average of M; I(n) = Mt(n) / rt(n) (1/s). Dividing by the
 *     RR trend makes the test stricter at low heart rates, where sinus arrhythmia is larger.
 *  4. Bigeminy suppression: B(n) = (Σ rm / Σ r − 1)² over the same N intervals; in bigeminy
 *     the median filter just swaps long and short intervals, so B ≈ 0, while in AF it does not.
 *     Bt = exponential average of B.
 *  5. Fusion: O(n) = I(n) when Bt ≥ δ, else Bt; AF when O(n) > η.
 *
 * Parameters N = 8, γ = 30 ms, α = 0.02, δ = 2·10⁻⁴, η = 0.725 are those reported for the
 * paper. The full text was not available to us here: the structure and values were taken from
 * the abstract and a public re-implementation's description (tabaraei/LTAF-detection, read as
 * reference only); verify them against the paper before a clinical release.
 *
 * Differences, because a monitor works on a live stream: the exponential averagers run forward
 * only (causal; the re-implementation we read averages forward and backward, which needs the
 * whole record) and are normalised by the weight their values carry while they warm up (the mean
 * of the values seen so far, not the first value with the whole memory's weight), and the measure
 * restarts after a discontinuity (gap or lead-off) instead of bridging it. Added for the episode logic in afib.ts: unsmoothed per-window outputs
 * (`windowScore`, `windowIrregular`, `pairFraction`). Memory is bounded (a few windows).
 */

export interface RrIrregularityParams {
  /** N: intervals in the sliding window. */
  windowBeats: number;
  /** γ: two intervals "differ" when they are at least this far apart, ms. */
  pairDiffMs: number;
  /** α: exponential averaging factor (0 < α < 1). */
  smoothingAlpha: number;
  /** δ: below this smoothed bigeminy measure the rhythm is treated as bigeminy (not AF). */
  bigeminyThreshold: number;
  /** η: AF when the fused decision signal exceeds this (1/s). */
  irregularityThreshold: number;
}

export const RR_IRREGULARITY_DEFAULTS: RrIrregularityParams = {
  windowBeats: 8,
  pairDiffMs: 30,
  smoothingAlpha: 0.02,
  bigeminyThreshold: 2e-4,
  irregularityThreshold: 0.725,
};

/** One output per RR interval once the window is full. */
export interface IrregularitySample {
  /** Time of the beat that ends the interval the smoothed decision refers to, ms. */
  timeMs: number;
  /** That interval, ms. */
  rrMs: number;
  /** Smoothed, bigeminy-gated decision O(n) > η: the rhythm is AF. */
  af: boolean;
  /**
   * Unsmoothed, bigeminy-gated irregularity of the current window ({@link windowScore} > η),
   * attributed to the beat at the window's centre ({@link centreTimeMs}): used to place episode
   * boundaries, since the smoothed decision lags by tens of beats.
   */
  windowIrregular: boolean;
  centreTimeMs: number;
  /** Fused decision value O(n), 1/s (for evidence and diagnostics). */
  score: number;
  /**
   * The same fusion without smoothing: M(n)/rt(n) when Bt ≥ δ or B(n) ≥ δ, else B(n).
   * Averaged over a stretch it grades the stretch itself, free of the averager's lag.
   */
  windowScore: number;
  /** M(n) of the current window, 0 when the bigeminy gate is closed. */
  pairFraction: number;
}

/** The weight an exponential average's values carry after one more (1 − (1 − α)^n; ≤ 1). */
const warmedWeight = (weight: number, alpha: number) => Math.min(1, (1 - alpha) * weight + alpha);

/**
 * One step of an exponential average with gain `gain` (α divided by the values' weight: 1 for
 * the first value, α once warmed up); undefined before any value.
 */
const warmedAverage = (average: number | undefined, x: number, gain: number) => (average === undefined ? x : average + Math.min(1, gain) * (x - average));

const median3 = (a: number, b: number, c: number) => Math.max(Math.min(a, b), Math.min(Math.max(a, b), c));

export class RrIrregularity {
  readonly params: RrIrregularityParams;
  /** Beat times and RR (s) of recent beats, newest last; at most N + 2 kept. */
  #timesMs: number[] = [];
  #rrS: number[] = [];
  /** Median-filtered and raw RR of the current window, aligned, newest last. */
  #rmWindow: number[] = [];
  #rWindow: number[] = [];
  #rt: number | undefined;
  #mt: number | undefined;
  #bt: number | undefined;
  /**
   * How much of each exponential average's weight its values so far carry: 1 − (1 − α)^n after
   * n values (RR trend; M and B, which start together once the window is full). The averages are
   * normalised by it while it is below 1 — the mean of what has been seen, weighted as the
   * average weights it — instead of starting at the first value with the weight of the whole
   * memory (≈ 50 beats at α = 0.02). Started at its first value, one sinus window whose B just
   * exceeded δ (seed aeb051 of the fault suite: B = 2.6·10⁻⁴, δ = 2·10⁻⁴) held the bigeminy gate
   * open for ≈ 18 windows, so respiratory sinus arrhythmia read as irregular windows and an AF
   * stretch 27 s later was dated back into it (issue 12 session 37).
   */
  #rtWeight = 0;
  #windowWeight = 0;

  constructor(params: RrIrregularityParams = RR_IRREGULARITY_DEFAULTS) {
    if (params.windowBeats < 2) throw new RangeError('windowBeats must be ≥ 2');
    this.params = params;
  }

  /** Forget everything (after a discontinuity): the next N + 1 intervals rebuild the window. */
  reset(): void {
    this.#timesMs = [];
    this.#rrS = [];
    this.#rmWindow = [];
    this.#rWindow = [];
    this.#rt = this.#mt = this.#bt = undefined;
    this.#rtWeight = this.#windowWeight = 0;
  }

  /**
   * The exponential averagers (RR, M, B; null before their first value): a replay of recent beats
   * rebuilds the windows exactly but these only approximately, so a successor takes them as they
   * were (afib-replay.ts).
   */
  get averagers(): [number | null, number | null, number | null] {
    return [this.#rt ?? null, this.#mt ?? null, this.#bt ?? null];
  }

  set averagers([rt, mt, bt]: [number | null, number | null, number | null]) {
    this.#rt = rt ?? undefined;
    this.#mt = mt ?? undefined;
    this.#bt = bt ?? undefined;
  }

  /** The averagers' warm-up weights (RR; M and B), which go with {@link averagers} to a successor. */
  get averagerWeights(): [number, number] {
    return [this.#rtWeight, this.#windowWeight];
  }

  set averagerWeights([rt, window]: [number, number]) {
    this.#rtWeight = rt;
    this.#windowWeight = window;
  }

  /**
   * Adds one beat with a known RR interval. Returns the sample for the previous interval (the
   * median filter needs one interval of look-ahead), or undefined while the window fills.
   */
  push(timeMs: number, rrMs: number): IrregularitySample | undefined {
    const { windowBeats: n, smoothingAlpha: alpha } = this.params;
    this.#timesMs.push(timeMs);
    this.#rrS.push(rrMs / 1000);
    if (this.#rrS.length > n + 2) { this.#rrS.shift(); this.#timesMs.shift(); }
    const len = this.#rrS.length;
    if (len < 3) return undefined;
    // Interval k = len − 2 is the one whose median can now be formed.
    const prev = this.#rrS[len - 3]!;
    const r = this.#rrS[len - 2]!;
    const next = this.#rrS[len - 1]!;
    const rm = median3(prev, r, next);
    this.#rmWindow.push(rm);
    this.#rWindow.push(r);
    if (this.#rmWindow.length > n) { this.#rmWindow.shift(); this.#rWindow.shift(); }
    this.#rtWeight = warmedWeight(this.#rtWeight, alpha);
    this.#rt = warmedAverage(this.#rt, r, alpha / this.#rtWeight);
    if (this.#rmWindow.length < n) return undefined;

    const gammaS = this.params.pairDiffMs / 1000;
    let differing = 0;
    for (let i = 0; i < n - 1; i++) {
      for (let j = i + 1; j < n; j++) if (Math.abs(this.#rmWindow[i]! - this.#rmWindow[j]!) >= gammaS) differing++;
    }
    const m = differing / ((n * (n - 1)) / 2);
    let sumRm = 0;
    let sumR = 0;
    for (let i = 0; i < n; i++) { sumRm += this.#rmWindow[i]!; sumR += this.#rWindow[i]!; }
    const b = (sumRm / sumR - 1) ** 2;
    this.#windowWeight = warmedWeight(this.#windowWeight, alpha);
    this.#mt = warmedAverage(this.#mt, m, alpha / this.#windowWeight);
    this.#bt = warmedAverage(this.#bt, b, alpha / this.#windowWeight);

    const rt = this.#rt;
    const notBigeminy = this.#bt >= this.params.bigeminyThreshold;
    const score = notBigeminy ? this.#mt / rt : this.#bt;
    // For the window itself the gate also opens on the window's own B: Bt needs a few beats to
    // rise after sinus rhythm (where B ≈ 0 too), which would otherwise hide the first AF windows.
    const windowNotBigeminy = notBigeminy || b >= this.params.bigeminyThreshold;
    const windowScore = windowNotBigeminy ? m / rt : b;
    // The window holds intervals k−N+1 … k; interval i ends at beat i. Its centre is between
    // the beats ending intervals k−N/2 and k−N/2+1; we take the earlier one.
    const k = len - 2;
    const centre = Math.max(0, k - Math.floor(n / 2));
    return {
      timeMs: this.#timesMs[k]!,
      rrMs: Math.round(r * 1000),
      af: score > this.params.irregularityThreshold,
      windowIrregular: windowScore > this.params.irregularityThreshold,
      centreTimeMs: this.#timesMs[centre]!,
      score,
      windowScore,
      pairFraction: windowNotBigeminy ? m : 0,
    };
  }
}

/**
 * Coefficient of sample entropy (COSEn) of a short RR series, after Lake & Moorman, "Accurate
 * estimation of entropy in very short physiological time series: the problem of atrial
 * fibrillation detection in implanted ventricular devices", Am J Physiol Heart Circ Physiol
 * 300:H319–H325 (2011): sample entropy with template length m = 1 and tolerance r, converted to
 * a density (quadratic sample entropy, QSE = SampEn + ln 2r) and corrected for the heart rate
 * (COSEn = QSE − ln mean RR; r and RR in seconds). AF's intervals are nearly independent, so a
 * close match of one pair of intervals says little about the next pair (high entropy); sinus
 * rhythm with atrial ectopy returns to the same intervals again and again (low entropy).
 *
 * Difference from the paper: r is fixed (the paper lets r grow until enough matches are found);
 * when no pair of templates matches at length 2 the series is as irregular as it can be
 * measured and +Infinity is returned. O(n²) in the number of intervals: callers bound n.
 * @param rrMs RR intervals, ms, oldest first (at least 3)
 * @param toleranceMs r, ms
 */
export function coefficientOfSampleEntropy(rrMs: readonly number[], toleranceMs: number): number {
  const n = rrMs.length;
  if (n < 3) return Number.NaN;
  let matches1 = 0;
  let matches2 = 0;
  for (let i = 0; i < n - 1; i++) {
    for (let j = i + 1; j < n - 1; j++) {
      if (Math.abs(rrMs[i]! - rrMs[j]!) > toleranceMs) continue;
      matches1++;
      if (Math.abs(rrMs[i + 1]! - rrMs[j + 1]!) <= toleranceMs) matches2++;
    }
  }
  if (matches2 === 0) return Number.POSITIVE_INFINITY;
  let sum = 0;
  for (const rr of rrMs) sum += rr;
  const sampleEntropy = -Math.log(matches2 / matches1);
  return sampleEntropy + Math.log((2 * toleranceMs) / 1000) - Math.log(sum / n / 1000);
}

/**
 * Premature-beat signature of an RR series: among the intervals that are premature (shorter
 * than 85 % of the median of the 8 intervals before them), the fraction followed by the pattern
 * of an atrial premature beat in sinus rhythm — a longer-than-usual interval (> 110 % of that
 * median: the compensatory or reset pause) and then an interval back at the median (± 10 %).
 * In AF the interval after a short one is as random as any other, so the full pattern is rare
 * (afdb AF stretches ≤ 0.33 over their first 30 s); frequent atrial ectopy in sinus rhythm
 * repeats it again and again. This is the premature/compensatory pair that Sarkar et al.
 * (IEEE TBME 55:1219–1224, 2008) count as "PAC evidence" in the Lorenz plot of ΔRR, written here
 * on the intervals themselves; the 85/110 % prematurity margins follow the usual RR-based ectopic
 * beat criteria (e.g. the 20 % rule of Malik et al. 1993 for HRV editing, tightened).
 * @param rrMs RR intervals, ms, oldest first
 * @returns the fraction (NaN when no interval is premature) and the number of premature intervals
 */
export function prematureBeatSignature(rrMs: readonly number[]): { fraction: number; premature: number } {
  let premature = 0;
  let pattern = 0;
  const ref: number[] = [];
  for (let i = 8; i < rrMs.length - 2; i++) {
    for (let k = 0; k < 8; k++) ref[k] = rrMs[i - 8 + k]!;
    ref.sort((a, b) => a - b);
    const median = (ref[3]! + ref[4]!) / 2;
    if (rrMs[i]! >= 0.85 * median) continue;
    premature++;
    if (rrMs[i + 1]! > 1.1 * median && Math.abs(rrMs[i + 2]! - median) < 0.1 * median) pattern++;
  }
  return { fraction: premature > 0 ? pattern / premature : Number.NaN, premature };
}

/** One RR interval as released by {@link ExtraDetectionMerger}: the beat that ends it and its length. */
export interface RrInterval {
  timeMs: number;
  rrMs: number;
  /** Set when this interval is two detected intervals merged back into one. */
  merged?: true;
}

/**
 * Undoes extra beat detections in a stream of RR intervals before the irregularity is measured.
 * A spurious detection between two real beats (a tall T wave, a muscle or motion artefact — the
 * error an automated or firmware QRS detector makes in noise) splits one interval into two short
 * ones whose sum is the interval the heart produced. So, as in the artefact editing of HRV
 * practice (the "extra beat" class of Lipponen & Tarvainen, J Med Eng Technol 43:173–181, 2019:
 * two consecutive intervals whose sum is close to the local median; the correction merges them),
 * an interval shorter than (1 − τ) × the median of the latest `referenceIntervals` released
 * intervals is held back, and merged with the next one when their sum lies within ± τ of that
 * median; otherwise both are released unchanged. Lipponen & Tarvainen scale the tolerance by the
 * local RR dispersion (91-beat quartile deviation); a fixed fraction is used here, in the manner of
 * the percentage rules of HRV editing (the 20 % rule of Malik et al. 1993, tightened to 15 % as in
 * {@link prematureBeatSignature}), because the dispersion is exactly what is being tested for AF.
 *
 * AF rarely carries the signature: its intervals are independent, so two in a row that are each
 * about half the usual interval and add up to it are uncommon (afdb, 64-interval windows of
 * reference AF: median 0 %, 95th percentile 3 %, 99th 9 % of intervals merged; the same outside
 * AF — `npm run eval` prints it, EVALUATION.md §2). It is a correction, not an AF/non-AF feature.
 * Missed detections (an interval ≈ 2× the median) are NOT split: a long AF interval and a pause
 * of a sinus stretch look the same, and splitting cost AF episodes on afdb (EVALUATION.md §2).
 * The reference is the median of the released (so also merged) intervals: a regular rhythm at
 * twice the rate of the one before it (abrupt SVT, 2:1 flutter after AF at ≈ 75/min) is merged
 * pairwise for as long as it lasts, and the measure reads it as regular at half the rate. Regular
 * either way, so no AF alarm changes (eval/af-merger-regular.ts, EVALUATION.md §2 "A regular fast
 * rhythm and the merger"); the rate in an AF end's flutter note is read from the raw intervals
 * (afib.ts `#recentRrMs`).
 * Causal, one interval of look-ahead at most, constant memory.
 */
export class ExtraDetectionMerger {
  readonly #tolerance: number;
  readonly #referenceIntervals: number;
  readonly #minReferenceRrMs: number;
  #released: number[] = [];
  /** Sorting space for the median (no array is allocated per interval: this runs for every beat). */
  readonly #sorted: Float64Array;
  #held: { interval: RrInterval; referenceMs: number } | undefined;

  /**
   * @param tolerance τ as a fraction of the reference (0 switches merging off)
   * @param referenceIntervals released intervals whose median is the reference
   * @param minReferenceRrMs released intervals shorter than this do not enter the reference
   */
  constructor(tolerance: number, referenceIntervals = 8, minReferenceRrMs = 0) {
    if (!(tolerance >= 0 && tolerance < 1)) throw new RangeError('tolerance must be in [0, 1)');
    if (referenceIntervals < 1) throw new RangeError('referenceIntervals must be ≥ 1');
    this.#tolerance = tolerance;
    this.#referenceIntervals = referenceIntervals;
    this.#minReferenceRrMs = minReferenceRrMs;
    this.#sorted = new Float64Array(referenceIntervals);
  }

  /** Forget everything (after a discontinuity); a held interval is dropped. */
  reset(): void {
    this.#released = [];
    this.#held = undefined;
  }

  /** Releases a held interval unmerged (e.g. before an interval that must not be merged). */
  flush(): RrInterval[] {
    const held = this.#held;
    this.#held = undefined;
    return held ? [this.#release(held.interval)] : [];
  }

  /**
   * Adds the interval that ends at the beat `timeMs`. Returns the intervals released by it, oldest
   * first: none (it is held back), one, or two (a held interval that did not merge, then this one).
   */
  push(timeMs: number, rrMs: number): RrInterval[] {
    const held = this.#held;
    if (held) {
      this.#held = undefined;
      if (Math.abs(held.interval.rrMs + rrMs - held.referenceMs) <= this.#tolerance * held.referenceMs) {
        return [this.#release({ timeMs, rrMs: held.interval.rrMs + rrMs, merged: true })];
      }
      return [this.#release(held.interval), ...this.push(timeMs, rrMs)];
    }
    const referenceMs = this.#tolerance > 0 ? this.#reference() : undefined;
    if (referenceMs !== undefined && rrMs < (1 - this.#tolerance) * referenceMs) {
      this.#held = { interval: { timeMs, rrMs }, referenceMs };
      return [];
    }
    return [this.#release({ timeMs, rrMs })];
  }

  #release(interval: RrInterval): RrInterval {
    if (interval.rrMs >= this.#minReferenceRrMs) {
      this.#released.push(interval.rrMs);
      if (this.#released.length > this.#referenceIntervals) this.#released.shift();
    }
    return interval;
  }

  /** Median of the latest released intervals, undefined until there are enough. */
  #reference(): number | undefined {
    const n = this.#released.length;
    if (n < this.#referenceIntervals) return undefined;
    const s = this.#sorted;
    for (let i = 0; i < n; i++) { // insertion sort of the few (N = 8) released intervals
      const x = this.#released[i]!;
      let j = i - 1;
      for (; j >= 0 && s[j]! > x; j--) s[j + 1] = s[j]!;
      s[j + 1] = x;
    }
    return n % 2 ? s[(n - 1) / 2]! : (s[n / 2 - 1]! + s[n / 2]!) / 2;
  }
}

/** What {@link ExtraDetectionMerger} and {@link AdaptiveArtefactCorrector} share: a causal corrector of RR intervals. */
export interface RrCorrector {
  /** Adds the interval ending at the beat `timeMs`; returns the intervals released by it, oldest first. */
  push(timeMs: number, rrMs: number): RrInterval[];
  /** Releases every held interval uncorrected (before an interval that must not be joined to them). */
  flush(): RrInterval[];
  /** Forgets everything (after a discontinuity). */
  reset(): void;
}

/** A sliding window of the latest `size` values kept sorted, for its quartiles (insertion O(size), no allocation). */
class SortedWindow {
  readonly #fifo: Float64Array;
  readonly #sorted: Float64Array;
  #n = 0;
  #head = 0;

  constructor(size: number) {
    this.#fifo = new Float64Array(size);
    this.#sorted = new Float64Array(size);
  }

  get length(): number {
    return this.#n;
  }

  clear(): void {
    this.#n = this.#head = 0;
  }

  add(x: number): void {
    const size = this.#fifo.length;
    const s = this.#sorted;
    if (this.#n === size) { // drop the oldest value from the sorted copy
      const old = this.#fifo[this.#head]!;
      let i = 0;
      while (s[i] !== old) i++;
      s.copyWithin(i, i + 1, this.#n);
      this.#n--;
      this.#fifo[this.#head] = x;
      this.#head = (this.#head + 1) % size;
    } else this.#fifo[(this.#head + this.#n) % size] = x;
    let j = this.#n - 1;
    for (; j >= 0 && s[j]! > x; j--) s[j + 1] = s[j]!;
    s[j + 1] = x;
    this.#n++;
  }

  /** Quantile q (0–1) with linear interpolation between order statistics; NaN when empty. */
  quantile(q: number): number {
    if (this.#n === 0) return Number.NaN;
    const pos = q * (this.#n - 1);
    const lo = Math.floor(pos);
    const hi = Math.min(lo + 1, this.#n - 1);
    return this.#sorted[lo]! + (pos - lo) * (this.#sorted[hi]! - this.#sorted[lo]!);
  }

  /** Quartile deviation (Q3 − Q1) / 2. */
  quartileDeviation(): number {
    return (this.quantile(0.75) - this.quantile(0.25)) / 2;
  }
}

/** x / threshold, with 0 / 0 = 0 (a perfectly regular stretch has a zero quartile deviation). */
const normalised = (x: number, threshold: number) => (x === 0 ? 0 : x / threshold);

/** Constants of Lipponen & Tarvainen 2019 (published values; not tuned here). */
export const LIPPONEN_TARVAINEN = {
  /** α: thresholds are α × the quartile deviation (5.2: ≈ 99.95 % of normal beats inside for a Gaussian). */
  alpha: 5.2,
  /** Intervals over which the quartile deviations are taken. */
  dispersionIntervals: 91,
  /** Intervals of the local median RR. */
  medianIntervals: 11,
  /** Slope and intercept of the ectopic-beat boundary in the (dRR(j), dRR(j±1)) plane. */
  c1: 0.13,
  c2: 0.17,
} as const;

/**
 * Beat-detection errors undone with the beat classification of Lipponen & Tarvainen, "A robust
 * algorithm for heart rate variability time series artefact correction using novel beat
 * classification", J Med Eng Technol 43:173–181 (2019) — the Kubios HRV method — instead of the
 * fixed ± 15 % of {@link ExtraDetectionMerger}. Its thresholds scale with the local dispersion of
 * the intervals, so an interval counts as "short" or "long" only relative to the rhythm around it:
 *  - dRR(j) = RR(j) − RR(j−1); Th1 = α · QD(|dRR|) over the latest 91 intervals (QD: quartile
 *    deviation); medRR = median of the latest 11 intervals; mRR(j) = RR(j) − medRR, doubled when
 *    negative; Th2 = α · QD(|mRR|) over the latest 91.
 *  - With s11 = dRR(j)/Th1, s12 = the max (min when dRR(j) < 0) of dRR(j−1), dRR(j+1) over Th1 and
 *    s22 = the min (max when dRR(j) < 0) of dRR(j+1), dRR(j+2) over Th1: ectopic when s11 > 1 and
 *    s12 < −c1·s11 − c2, or s11 < −1 and s12 > −c1·s11 + c2; otherwise long when s11 > 1 and
 *    s22 < −1 or |mRR|/Th2 > 3 with RR(j) above medRR, short when s11 < −1 and s22 > 1 or
 *    |mRR|/Th2 > 3 with RR(j) at or below medRR.
 *  - A short interval whose sum with the next lies within Th2 of medRR is an **extra** detection:
 *    the two are merged. With `splitMissed`, a long interval whose half lies within Th2 of medRR is
 *    a **missed** detection: it is split into two halves.
 * Ectopic, long and short beats that are neither are real beats and pass unchanged: the paper
 * interpolates them for HRV, which here would make AF look regular.
 *
 * Causal adaptation (the paper centres its windows on the record): the windows end at the newest
 * interval, two intervals after the one classified (the look-ahead s22 needs), so intervals are
 * released two beats late. The dispersion and median windows run across intervals left out
 * around other beat classes ({@link flush}), but dRR is never taken across them. Classification
 * starts once the median window is full (11 intervals), with the dispersion over what there is,
 * as the paper does at a record's edges. O(91) per interval, no allocation.
 */
export class AdaptiveArtefactCorrector implements RrCorrector {
  readonly #splitMissed: boolean;
  readonly #c = LIPPONEN_TARVAINEN;
  readonly #absDrr = new SortedWindow(LIPPONEN_TARVAINEN.dispersionIntervals);
  readonly #absMrr = new SortedWindow(LIPPONEN_TARVAINEN.dispersionIntervals);
  /** The latest raw intervals (median window), oldest first. */
  readonly #recent: number[] = [];
  readonly #medianSpace = new Float64Array(LIPPONEN_TARVAINEN.medianIntervals);
  /** Consecutive intervals since the last flush not yet released (at most 3 held), with dRR (NaN at the run's start). */
  #held: { timeMs: number; rrMs: number; dRrMs: number }[] = [];
  /** dRR of the last released interval of the run (s12 reads dRR(j−1)); NaN at a run's start. */
  #prevDrrMs = Number.NaN;
  /** The oldest held interval was merged into the one released before it. */
  #consumed = false;

  constructor(splitMissed: boolean) {
    this.#splitMissed = splitMissed;
  }

  reset(): void {
    this.#absDrr.clear();
    this.#absMrr.clear();
    this.#recent.length = 0;
    this.#held = [];
    this.#prevDrrMs = Number.NaN;
    this.#consumed = false;
  }

  flush(): RrInterval[] {
    const out: RrInterval[] = [];
    for (let i = this.#consumed ? 1 : 0; i < this.#held.length; i++) out.push({ timeMs: this.#held[i]!.timeMs, rrMs: this.#held[i]!.rrMs });
    this.#held = [];
    this.#prevDrrMs = Number.NaN;
    this.#consumed = false;
    return out;
  }

  push(timeMs: number, rrMs: number): RrInterval[] {
    const last = this.#held[this.#held.length - 1];
    const dRrMs = last ? rrMs - last.rrMs : Number.NaN;
    if (Number.isFinite(dRrMs)) this.#absDrr.add(Math.abs(dRrMs));
    this.#recent.push(rrMs);
    if (this.#recent.length > this.#c.medianIntervals) this.#recent.shift();
    this.#held.push({ timeMs, rrMs, dRrMs });
    if (this.#held.length < 3) return [];
    // held[0] = j, held[1] = j+1, held[2] = j+2.
    const out = this.#classify();
    this.#prevDrrMs = this.#held[0]!.dRrMs;
    this.#held.shift();
    return out;
  }

  /** Releases held[0] (j): corrected, merged with j+1, or unchanged. */
  #classify(): RrInterval[] {
    const [j, j1, j2] = this.#held as [{ timeMs: number; rrMs: number; dRrMs: number }, { timeMs: number; rrMs: number; dRrMs: number }, { timeMs: number; rrMs: number; dRrMs: number }];
    if (this.#consumed) { // j was merged into the interval before it
      this.#consumed = false;
      return [];
    }
    const plain = [{ timeMs: j.timeMs, rrMs: j.rrMs }];
    if (this.#recent.length < this.#c.medianIntervals) return plain;
    const medMs = this.#median();
    let mRrMs = j.rrMs - medMs;
    if (mRrMs < 0) mRrMs *= 2;
    this.#absMrr.add(Math.abs(mRrMs));
    const { alpha, c1, c2 } = this.#c;
    const th1 = alpha * this.#absDrr.quartileDeviation();
    const th2 = alpha * this.#absMrr.quartileDeviation();
    const mRr = normalised(mRrMs, th2);
    // dRR(j) unknown (the run starts at j): only the median test can classify it.
    const s11 = Number.isFinite(j.dRrMs) ? normalised(j.dRrMs, th1) : 0;
    const before = Number.isFinite(this.#prevDrrMs) ? this.#prevDrrMs : 0;
    const s12 = normalised(s11 < 0 ? Math.min(before, j1.dRrMs) : Math.max(before, j1.dRrMs), th1);
    const s22 = normalised(s11 >= 0 ? Math.min(j1.dRrMs, j2.dRrMs) : Math.max(j1.dRrMs, j2.dRrMs), th1);
    const ectopic = (s11 > 1 && s12 < -c1 * s11 - c2) || (s11 < -1 && s12 > -c1 * s11 + c2);
    if (ectopic) return plain;
    const outlier = Math.abs(mRr) > 3;
    const long = (s11 > 1 && s22 < -1) || (outlier && j.rrMs > medMs);
    const short = (s11 < -1 && s22 > 1) || (outlier && j.rrMs <= medMs);
    if (short && Math.abs(j.rrMs + j1.rrMs - medMs) < th2) {
      this.#consumed = true;
      return [{ timeMs: j1.timeMs, rrMs: j.rrMs + j1.rrMs, merged: true }];
    }
    if (this.#splitMissed && long && Math.abs(j.rrMs / 2 - medMs) < th2) {
      const half = j.rrMs / 2;
      return [{ timeMs: j.timeMs - half, rrMs: half }, { timeMs: j.timeMs, rrMs: j.rrMs - half }];
    }
    return plain;
  }

  #median(): number {
    const s = this.#medianSpace;
    const n = this.#recent.length;
    for (let i = 0; i < n; i++) {
      const x = this.#recent[i]!;
      let k = i - 1;
      for (; k >= 0 && s[k]! > x; k--) s[k + 1] = s[k]!;
      s[k + 1] = x;
    }
    return n % 2 ? s[(n - 1) / 2]! : (s[n / 2 - 1]! + s[n / 2]!) / 2;
  }
}
