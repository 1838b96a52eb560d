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
 * whole record), and the measure restarts after a discontinuity (gap or lead-off) instead of
 * bridging it. Added for the episode logic in afib.ts: unsmoothed per-window outputs
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
    this.#rt = this.#rt === undefined ? r : this.#rt + alpha * (r - this.#rt);
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
    this.#mt = this.#mt === undefined ? m : this.#mt + alpha * (m - this.#mt);
    this.#bt = this.#bt === undefined ? b : this.#bt + alpha * (b - this.#bt);

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
