/**
 * Episode-by-episode comparison in the manner of WFDB `epicmp` (ANSI/AAMI EC38/EC57 AF episode
 * statistics; https://physionet.org/physiotools/wag/epicmp-1.htm), re-implemented from its
 * documented behaviour:
 *
 * - Only the test period counts: from `startMs` (EC57: 5 minutes into the record) to `endMs`.
 *   Episodes are clipped to it; episodes entirely outside it are ignored.
 * - Episode sensitivity: a reference episode is detected (TP) when any test episode overlaps it
 *   by more than zero time; otherwise it is a false negative.
 * - Episode positive predictivity: a test episode is a TP when any reference episode overlaps
 *   it; otherwise a false positive. For AF, reference atrial-flutter stretches are cut out of
 *   test episodes first (a test episode entirely inside flutter is ignored).
 * - Duration sensitivity = overlap / total reference duration; duration positive predictivity =
 *   overlap / total test duration (after the flutter exclusions).
 * - `minEpisodeMs` (epicmp `-i`, non-standard) ignores episodes shorter than that on both sides.
 */

export interface Interval {
  startMs: number;
  endMs: number;
}

export interface EpisodeComparison {
  /** Reference episodes detected / missed. */
  tpSe: number;
  fn: number;
  /** Test episodes confirmed / false. */
  tpPp: number;
  fp: number;
  /** Overlap counted against the reference episodes, ms. */
  overlapSeMs: number;
  /** Overlap counted against the test episodes, ms (equal to overlapSeMs unless exclusions cut it). */
  overlapPpMs: number;
  refDurationMs: number;
  testDurationMs: number;
}

export interface EpicmpOptions {
  /** Start of the test period (EC57: 5 min). */
  startMs: number;
  /** End of the test period (end of the record). */
  endMs: number;
  /** Reference stretches cut out of test episodes for +P (AF: reference atrial flutter). */
  exclusions?: Interval[];
  /** Ignore episodes shorter than this (epicmp `-i`; 0 = EC57 standard). */
  minEpisodeMs?: number;
}

/** Sorts intervals and merges the ones that touch or overlap. */
export function mergeIntervals(intervals: readonly Interval[]): Interval[] {
  const sorted = [...intervals].filter((i) => i.endMs >= i.startMs).sort((a, b) => a.startMs - b.startMs);
  const out: Interval[] = [];
  for (const i of sorted) {
    const last = out.at(-1);
    if (last && i.startMs <= last.endMs) last.endMs = Math.max(last.endMs, i.endMs);
    else out.push({ startMs: i.startMs, endMs: i.endMs });
  }
  return out;
}

/** Total time `interval` shares with the (merged, sorted) `others`. */
export function overlapMs(interval: Interval, others: readonly Interval[]): number {
  let total = 0;
  for (const o of others) {
    if (o.startMs >= interval.endMs) break;
    const s = Math.max(o.startMs, interval.startMs);
    const e = Math.min(o.endMs, interval.endMs);
    if (e > s) total += e - s;
  }
  return total;
}

/** The parts of `interval` outside the (merged, sorted) `cuts`. */
function subtract(interval: Interval, cuts: readonly Interval[]): Interval[] {
  let pieces: Interval[] = [interval];
  for (const c of cuts) {
    pieces = pieces.flatMap((p) => {
      if (c.endMs <= p.startMs || c.startMs >= p.endMs) return [p];
      const rest: Interval[] = [];
      if (c.startMs > p.startMs) rest.push({ startMs: p.startMs, endMs: c.startMs });
      if (c.endMs < p.endMs) rest.push({ startMs: c.endMs, endMs: p.endMs });
      return rest;
    });
  }
  return pieces;
}

const clip = (i: Interval, startMs: number, endMs: number): Interval | undefined => {
  const s = Math.max(i.startMs, startMs);
  const e = Math.min(i.endMs, endMs);
  return e > s ? { startMs: s, endMs: e } : undefined;
};

/**
 * Compares test episodes with reference episodes of one record.
 * @param reference reference episodes (e.g. the record's `(AFIB` stretches)
 * @param test detected episodes (e.g. afib alerts, onset to end)
 */
export function compareEpisodes(reference: readonly Interval[], test: readonly Interval[], options: EpicmpOptions): EpisodeComparison {
  const minMs = options.minEpisodeMs ?? 0;
  const keep = (i: Interval | undefined): i is Interval => i !== undefined && i.endMs - i.startMs >= minMs;
  // As in epicmp, the minimum length selects the episodes being scored, not the ones they are
  // compared against.
  const refAll = mergeIntervals(reference);
  const tstAll = mergeIntervals(test);
  const ref = refAll.map((i) => clip(i, options.startMs, options.endMs)).filter(keep);
  const tst = tstAll.map((i) => clip(i, options.startMs, options.endMs)).filter(keep);
  const cuts = mergeIntervals(options.exclusions ?? []);
  const result: EpisodeComparison = { tpSe: 0, fn: 0, tpPp: 0, fp: 0, overlapSeMs: 0, overlapPpMs: 0, refDurationMs: 0, testDurationMs: 0 };

  for (const r of ref) {
    const o = overlapMs(r, tstAll);
    result.refDurationMs += r.endMs - r.startMs;
    result.overlapSeMs += o;
    if (o > 0) result.tpSe++;
    else result.fn++;
  }
  for (const t of tst) {
    const kept = subtract(t, cuts);
    if (kept.length === 0) continue; // entirely inside an exclusion: ignored
    const duration = kept.reduce((s, k) => s + k.endMs - k.startMs, 0);
    if (duration < minMs) continue;
    const o = kept.reduce((s, k) => s + overlapMs(k, refAll), 0);
    result.testDurationMs += duration;
    result.overlapPpMs += o;
    if (o > 0) result.tpPp++;
    else result.fp++;
  }
  return result;
}

/** Sums per-record comparisons (EC57 "gross" statistics). */
export function sumComparisons(list: readonly EpisodeComparison[]): EpisodeComparison {
  const total: EpisodeComparison = { tpSe: 0, fn: 0, tpPp: 0, fp: 0, overlapSeMs: 0, overlapPpMs: 0, refDurationMs: 0, testDurationMs: 0 };
  for (const c of list) for (const k of Object.keys(total) as (keyof EpisodeComparison)[]) total[k] += c[k];
  return total;
}

/** Episode and duration Se/+P in percent; undefined when the denominator is 0 (epicmp prints `-`). */
export function episodeStats(c: EpisodeComparison): { episodeSe?: number; episodePp?: number; durationSe?: number; durationPp?: number } {
  const pct = (a: number, b: number) => (b > 0 ? (100 * a) / b : undefined);
  const out: { episodeSe?: number; episodePp?: number; durationSe?: number; durationPp?: number } = {};
  const eSe = pct(c.tpSe, c.tpSe + c.fn);
  const ePp = pct(c.tpPp, c.tpPp + c.fp);
  const dSe = pct(c.overlapSeMs, c.refDurationMs);
  const dPp = pct(c.overlapPpMs, c.testDurationMs);
  if (eSe !== undefined) out.episodeSe = eSe;
  if (ePp !== undefined) out.episodePp = ePp;
  if (dSe !== undefined) out.durationSe = dSe;
  if (dPp !== undefined) out.durationPp = dPp;
  return out;
}
