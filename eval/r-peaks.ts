/**
 * A plain R-peak finder for the evaluation of ECG-only strips (CinC 2017), used until the
 * processor's QRS detector (issue 12, helper `qrs`) lands; then the evaluation switches to it.
 * Pan & Tompkins 1985 in outline (IEEE TBME 32:230–236): band-pass (difference of moving
 * averages, ≈ 5–20 Hz), squared slope, 150 ms moving integration, peaks above a fraction of the
 * strip's high percentile with a 250 ms refractory period; each R peak is then placed at the
 * largest band-passed magnitude within ±80 ms (the polarity of handheld leads varies).
 * Offline (the whole strip is known): not for the hot path.
 */
const movingAverage = (x: Float64Array, half: number) => {
  const out = new Float64Array(x.length);
  let sum = 0;
  let lo = 0;
  let hi = -1;
  for (let i = 0; i < x.length; i++) {
    const a = Math.max(0, i - half);
    const b = Math.min(x.length - 1, i + half);
    while (hi < b) sum += x[++hi]!;
    while (lo < a) sum -= x[lo++]!;
    out[i] = sum / (hi - lo + 1);
  }
  return out;
};

/** R-peak sample indexes of a strip. */
export function findRPeaks(signal: ArrayLike<number>, fsHz: number): number[] {
  const x = Float64Array.from(signal as ArrayLike<number>);
  const fast = movingAverage(x, Math.max(1, Math.round(0.012 * fsHz)));
  const slow = movingAverage(x, Math.max(2, Math.round(0.05 * fsHz)));
  const band = new Float64Array(x.length);
  for (let i = 0; i < x.length; i++) band[i] = fast[i]! - slow[i]!;
  const energy = new Float64Array(x.length);
  for (let i = 1; i < x.length; i++) energy[i] = (band[i]! - band[i - 1]!) ** 2;
  const integrated = movingAverage(energy, Math.round(0.075 * fsHz));
  const sorted = Float64Array.from(integrated).sort();
  const threshold = 0.3 * sorted[Math.floor(0.98 * (sorted.length - 1))]!;
  const refractory = Math.round(0.25 * fsHz);
  const search = Math.round(0.08 * fsHz);
  const peaks: number[] = [];
  for (let i = 1; i < x.length - 1; i++) {
    if (integrated[i]! < threshold || integrated[i]! < integrated[i - 1]! || integrated[i]! < integrated[i + 1]!) continue;
    let best = i;
    for (let j = Math.max(0, i - search); j <= Math.min(x.length - 1, i + search); j++) if (Math.abs(band[j]!) > Math.abs(band[best]!)) best = j;
    const last = peaks.at(-1);
    if (last !== undefined && best - last < refractory) {
      if (Math.abs(band[best]!) > Math.abs(band[last]!)) peaks[peaks.length - 1] = best;
      continue;
    }
    peaks.push(best);
  }
  return peaks;
}
