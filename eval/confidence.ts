/**
 * How far the held-out figures could be from the truth on records we do not have: 95 %
 * confidence intervals next to the point estimates of `npm run eval`.
 *
 * Two kinds, by what the counted units are:
 *  - **Wilson score interval** for a proportion of independent units — one CinC 2017 strip, one
 *    CinC 2015 alarm record (Wilson, J Am Stat Assoc 22:209–212, 1927; recommended over the
 *    normal-approximation interval for small n and proportions near 0 or 100 % by Brown, Cai &
 *    DasGupta, Statistical Science 16:101–133, 2001).
 *  - **Record bootstrap** (cluster bootstrap, percentile interval: Efron & Tibshirani, An
 *    Introduction to the Bootstrap, 1993) where the units are not independent — AF episodes and
 *    beats come in records, and one record's episodes share a patient, a detector's errors and a
 *    noise level (04015 holds 3 of afdb's 4 false AF episodes). Whole records are resampled, the
 *    same reason leave-one-record-out holds out whole records. With 5 or 12 records the interval
 *    is coarse: it says how much the figure depends on which records happen to be in the set.
 *
 * The bootstrap here resamples the held-out scores as they are; it does not re-run the choice of
 * the operating point inside each resample, so it leaves out that source of variation.
 * Deterministic: a fixed-seed generator, so the printed intervals are reproducible.
 */
import { createPrng } from '../device-sim/prng.ts';

/** A 95 % interval, in the unit of the statistic (percent here). */
export interface ConfidenceInterval {
  low: number;
  high: number;
}

/** z of a two-sided 95 % interval. */
const Z95 = 1.959963984540054;

/**
 * Wilson score interval of `successes` out of `n`, in percent; undefined when n is 0.
 */
export function wilsonInterval(successes: number, n: number, z = Z95): ConfidenceInterval | undefined {
  if (!(n > 0)) return undefined;
  if (!(successes >= 0 && successes <= n)) throw new RangeError(`wilsonInterval: ${successes} of ${n}`);
  const p = successes / n;
  const z2n = (z * z) / n;
  const centre = (p + z2n / 2) / (1 + z2n);
  const half = (z / (1 + z2n)) * Math.sqrt((p * (1 - p)) / n + z2n / (4 * n));
  // At the ends (0 of n, n of n) the bound is exactly 0 or 100 %; the formula leaves rounding.
  return { low: successes === 0 ? 0 : 100 * (centre - half), high: successes === n ? 100 : 100 * (centre + half) };
}

export interface BootstrapOptions {
  /** Resamples (default 2000). */
  replicates?: number;
  /** Seed of the generator (default 1). */
  seed?: number;
}

/**
 * Percentile interval (2.5 % and 97.5 % quantiles) of `statistic` over resamples of `records`
 * drawn with replacement, each as many records as the original. Resamples on which the
 * statistic is undefined (e.g. +P of a resample without alarms) are skipped; undefined when all
 * are, or when there are no records.
 */
export function recordBootstrap<T>(records: readonly T[], statistic: (sample: readonly T[]) => number | undefined, options: BootstrapOptions = {}): ConfidenceInterval | undefined {
  const replicates = options.replicates ?? 2000;
  if (records.length === 0 || !(replicates > 0)) return undefined;
  const random = createPrng(options.seed ?? 1);
  const values: number[] = [];
  const sample = new Array<T>(records.length);
  for (let b = 0; b < replicates; b++) {
    for (let i = 0; i < records.length; i++) sample[i] = records[Math.floor(random() * records.length)]!;
    const v = statistic(sample);
    if (v !== undefined && Number.isFinite(v)) values.push(v);
  }
  if (values.length === 0) return undefined;
  values.sort((a, b) => a - b);
  // Nearest-rank quantiles: the interval is made of values the statistic actually takes.
  const at = (q: number) => values[Math.min(values.length - 1, Math.max(0, Math.ceil(q * values.length) - 1))]!;
  return { low: at(0.025), high: at(0.975) };
}

/** "a–b" with one decimal, or "-" when there is no interval. */
export function formatInterval(ci: ConfidenceInterval | undefined, digits = 1): string {
  return ci ? `${ci.low.toFixed(digits)}–${ci.high.toFixed(digits)}` : '-';
}
