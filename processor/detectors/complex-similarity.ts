/**
 * How alike the consecutive complexes of a run of ventricular beats are, from the ECG: the mean,
 * over each pair of consecutive beats, of the Pearson correlation of their complexes (−100…+120
 * ms around the R peak, the window of the beat labeller's templates, qrs-morphology.ts), each pair
 * aligned at its best shift within ±30 ms (the R peak of a biphasic complex may sit on either
 * phase), on a low-passed copy of the 0.5–40 Hz lead (60 ms moving average, first zero at
 * ≈ 17 Hz).
 *
 * Why (issue 12, false VT in noise; EVALUATION.md §6): the complexes of a ventricular tachycardia
 * come from one focus — or, in polymorphic VT, change from one beat to the next only gradually —
 * so consecutive complexes are alike; the "V" beats the labeller finds in motion and muscle
 * artefact are noise bursts, each shaped differently. The broad ventricular complex has its energy
 * below ≈ 10–15 Hz while muscle noise is mostly above 20 Hz, hence the low-pass: it keeps the
 * complexes of a VT in noise alike. Template matching against the patient's own beats is the
 * morphology principle of beat classifiers (Hamilton's OSEA, de Chazal et al. 2004); here it is
 * applied among the run's own complexes.
 *
 * Pure: reads samples through an accessor; no state.
 */

/** Complex window around the R peak, ms (as the beat labeller's templates). */
const PRE_MS = 100;
const POST_MS = 120;
/** Alignment search, ± ms. */
const SHIFT_MS = 30;
/** Moving-average low-pass before the comparison, ms (so the last complex needs ECG up to ≈ 180 ms after its R peak). */
const SMOOTH_MS = 60;

/**
 * How far before a complex's R peak the comparison reads the lead, samples: its window, half the
 * smoothing and the alignment search (what a caller must still hold for a run's first complex).
 */
export function complexReachBeforeR(fsHz: number): number {
  return Math.round((PRE_MS * fsHz) / 1000) + Math.round((SHIFT_MS * fsHz) / 1000) + (Math.max(1, Math.round((SMOOTH_MS * fsHz) / 1000)) >> 1);
}

/**
 * Mean correlation of consecutive complexes at the R-peak sample indexes `peaks` (ascending);
 * NaN when fewer than two peaks or when `sample` returns NaN for a sample needed (not held).
 * @param sample filtered ECG sample at an absolute index (NaN when not available)
 */
export function consecutiveComplexSimilarity(sample: (i: number) => number, fsHz: number, peaks: readonly number[]): number {
  const pre = Math.round((PRE_MS * fsHz) / 1000);
  const post = Math.round((POST_MS * fsHz) / 1000);
  const shift = Math.round((SHIFT_MS * fsHz) / 1000);
  const smooth = Math.max(1, Math.round((SMOOTH_MS * fsHz) / 1000));
  const len = pre + post + 1;
  /** The smoothed, mean-free complex centred at sample c; undefined when the ECG does not hold it. */
  const complex = (c: number): Float64Array | undefined => {
    const from = c - pre - (smooth >> 1);
    const raw = new Float64Array(len + smooth - 1);
    for (let k = 0; k < raw.length; k++) {
      const v = sample(from + k);
      if (Number.isNaN(v)) return undefined;
      raw[k] = v;
    }
    const out = new Float64Array(len);
    let sum = 0;
    for (let k = 0; k < smooth; k++) sum += raw[k]!;
    let mean = 0;
    for (let k = 0; k < len; k++) {
      if (k > 0) sum += raw[k + smooth - 1]! - raw[k - 1]!;
      out[k] = sum / smooth;
      mean += out[k]!;
    }
    mean /= len;
    for (let k = 0; k < len; k++) out[k]! -= mean;
    return out;
  };
  let total = 0;
  let pairs = 0;
  let previous = peaks.length > 0 ? complex(peaks[0]!) : undefined;
  for (let i = 1; i < peaks.length; i++) {
    if (!previous) return Number.NaN;
    let best = -1;
    let atPeak: Float64Array | undefined;
    for (let s = -shift; s <= shift; s++) {
      const c = complex(peaks[i]! + s);
      if (!c) return Number.NaN;
      if (s === 0) atPeak = c;
      best = Math.max(best, pearson(previous, c));
    }
    total += best;
    pairs++;
    // The next pair compares with this beat's complex at its own R peak (not a shifted copy).
    previous = atPeak;
  }
  return pairs > 0 ? total / pairs : Number.NaN;
}

function pearson(a: Float64Array, b: Float64Array): number {
  let ab = 0, aa = 0, bb = 0;
  for (let k = 0; k < a.length; k++) { ab += a[k]! * b[k]!; aa += a[k]! * a[k]!; bb += b[k]! * b[k]!; }
  return aa > 0 && bb > 0 ? ab / Math.sqrt(aa * bb) : 0;
}
