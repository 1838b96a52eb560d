/**
 * Choosing the AF alarm operating point without scoring it on the records it was chosen on.
 *
 * Every candidate setting is replayed once over every afdb record (only the AF detector, through
 * the production PatientStream path). Then, leave-one-record-out: for each record, the setting
 * is chosen on the other records by {@link afObjective}, and that record is scored with it. The
 * held-out sum is the estimate for records the setting has never seen; the setting chosen on all
 * records is the production candidate. `npm run eval` runs this over {@link AF_EVAL_CANDIDATES}
 * (a small grid, seconds); `eval/tune-af.ts` over a wider one.
 *
 * Whole records are held out, never parts of one: consecutive episodes of one patient are not
 * independent, and the maintainers measure on patients we do not have.
 */
import { AFIB_DEFAULTS, createAfibDetector, type AfibParams } from '../processor/detectors/afib.ts';
import { ExtraDetectionMerger } from '../processor/detectors/rr-irregularity.ts';
import { compareEpisodes, episodeStats, mergeIntervals, overlapMs, sumComparisons, type EpisodeComparison } from './epicmp.ts';
import { loadRecord, type ReferenceRecord } from './records.ts';
import { recordFrames, replayRecord } from './replay.ts';

/** EC57: the first 5 minutes of each record are a learning period, not scored. */
const LEARNING_MS = 5 * 60 * 1000;
/** The AF reporting criterion (epicmp -i 30). */
const MIN_EPISODE_MS = 30_000;

export type AfSetting = Partial<AfibParams>;

/** One record scored under every candidate. */
export interface AfRecordScores {
  name: string;
  /** Per candidate: episodes ≥ 30 s, epicmp-style. */
  comparisons: EpisodeComparison[];
  /** Per candidate: alarm latency of each true alarm, ms. */
  latenciesMs: number[][];
}

/**
 * Replays one record under every candidate (AF detector alone). Scored are the **detector's**
 * episodes: the alarm off-delay (`offDelayMs`, 2 min, fixed by a clinical argument, not chosen
 * here) is off unless a candidate sets it. Merging alarms changes the count of detected episodes
 * mechanically — a false stretch within 2 min of true AF joins a true alarm, a paroxysm cluster
 * becomes one alarm and shrinks +P's denominator — so with it on, the objective's E+P moved for
 * reasons unrelated to the operating point and the folds left the production setting
 * (EVALUATION.md §2, "Off-delay"). The alarms as raised, off-delay included, are the afdb table's.
 */
export function scoreRecord(record: ReferenceRecord, candidates: readonly AfSetting[]): AfRecordScores {
  const reference = record.rhythms.filter((r) => r.rhythm === '(AFIB');
  const merged = mergeIntervals(reference);
  const flutter = record.rhythms.filter((r) => r.rhythm === '(AFL');
  const comparisons: EpisodeComparison[] = [];
  const latenciesMs: number[][] = [];
  const frames = [...recordFrames(record)]; // built once: frames are not modified by the replay
  for (const setting of candidates) {
    const detected = replayRecord(record, [createAfibDetector({ offDelayMs: 0, ...setting })], frames).episodes.filter((e) => e.kind === 'afib');
    latenciesMs.push(detected.filter((e) => overlapMs(e, merged) > 0).map((e) => e.latencyMs));
    comparisons.push(compareEpisodes(reference, detected, { startMs: LEARNING_MS, endMs: record.durationMs, exclusions: flutter, minEpisodeMs: MIN_EPISODE_MS }));
  }
  return { name: record.name, comparisons, latenciesMs };
}

/**
 * The objective: the target is episode Se and +P (≥ 30 s), so the worse of the two —
 * and of the duration Se, which says whether the long episodes are alarmed in time (an episode
 * counts as found if any alarm overlaps it, however late: a setting can keep episode Se while
 * alarming a 10-hour AF hours late). Ties (within 0.05 points) go to the better worst duration
 * statistic, then to the earlier true alarms (median latency).
 * History: fixed before looking at any result as min(ESe, E+P) in issue 12; duration Se added in
 * session 4 after that objective picked COSEn −0.4 once the stretch-gap option entered the grid
 * (in-sample DSe 96 → 75 %, the failure session 3 had already seen in two folds).
 */
export function afObjective(list: readonly EpisodeComparison[]): [number, number] {
  const s = episodeStats(sumComparisons(list));
  return [Math.min(s.episodeSe ?? 0, s.episodePp ?? 0, s.durationSe ?? 0), Math.min(s.durationSe ?? 0, s.durationPp ?? 0)];
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.floor(s.length / 2)]! : Infinity;
};

/** Index of the candidate chosen on `records`. */
export function chooseSetting(records: readonly AfRecordScores[], candidateCount: number): number {
  let best = 0;
  let bestKey: [number, number, number] | undefined;
  for (let gi = 0; gi < candidateCount; gi++) {
    const [episode, duration] = afObjective(records.map((r) => r.comparisons[gi]!));
    const latency = median(records.flatMap((r) => r.latenciesMs[gi]!));
    const key: [number, number, number] = [episode, duration, -latency];
    if (!bestKey || key[0] > bestKey[0] + 0.05 || (Math.abs(key[0] - bestKey[0]) <= 0.05 && (key[1] > bestKey[1] + 0.05 || (Math.abs(key[1] - bestKey[1]) <= 0.05 && key[2] > bestKey[2])))) {
      best = gi;
      bestKey = key;
    }
  }
  return best;
}

export interface LoroResult {
  /** Per record: the candidate chosen without it, and its score with that candidate. */
  folds: { name: string; chosen: number; comparison: EpisodeComparison; latenciesMs: number[] }[];
  /** Sum of the held-out scores. */
  heldOut: EpisodeComparison;
  heldOutLatenciesMs: number[];
  /** The candidate chosen on all records (the production candidate) and its in-sample score. */
  chosenOnAll: number;
  inSample: EpisodeComparison;
}

export function leaveOneRecordOut(records: readonly AfRecordScores[], candidateCount: number): LoroResult {
  const folds = records.map((r) => {
    const chosen = chooseSetting(records.filter((o) => o !== r), candidateCount);
    return { name: r.name, chosen, comparison: r.comparisons[chosen]!, latenciesMs: r.latenciesMs[chosen]! };
  });
  const chosenOnAll = chooseSetting(records, candidateCount);
  return {
    folds,
    heldOut: sumComparisons(folds.map((f) => f.comparison)),
    heldOutLatenciesMs: folds.flatMap((f) => f.latenciesMs),
    chosenOnAll,
    inSample: sumComparisons(records.map((r) => r.comparisons[chosenOnAll]!)),
  };
}

/** One afdb record scored for the leave-one-record-out: its scores and its extra-detection shares. */
export interface AfdbRecordResult {
  scores: AfRecordScores;
  shares: MergeShares;
}

/** Loads one afdb record and scores it (in-process or on a worker thread: af-loro-worker.ts). */
export async function scoreAfdbRecord(dir: string, name: string, candidates: readonly AfSetting[]): Promise<AfdbRecordResult> {
  const record = await loadRecord('afdb', dir, name);
  return { scores: scoreRecord(record, candidates), shares: extraDetectionShares(record) };
}

/** Share of intervals merged as extra detections, per window of intervals, inside and outside reference AF. */
export interface MergeShares {
  af: number[];
  nonAf: number[];
}

/**
 * The measurement behind the extra-detection merger (AfibParams.extraDetectionTolerance): how
 * often does it merge intervals of real AF, and of everything else? The record's supraventricular
 * intervals go through the production merger in order (an interval into or out of another beat
 * class releases a held one, as in the detector); each window of `windowIntervals` consecutive
 * intervals that lies wholly inside reference AF, or wholly outside AF and flutter, after the
 * learning period, gives the share of its intervals that were merged.
 */
export function extraDetectionShares(record: ReferenceRecord, tolerance = AFIB_DEFAULTS.extraDetectionTolerance, windowIntervals = 64): MergeShares {
  const merger = new ExtraDetectionMerger(tolerance, AFIB_DEFAULTS.windowBeats, AFIB_DEFAULTS.minPlausibleRrMs);
  const af = mergeIntervals(record.rhythms.filter((r) => r.rhythm === '(AFIB'));
  const afOrFlutter = mergeIntervals(record.rhythms.filter((r) => r.rhythm === '(AFIB' || r.rhythm === '(AFL'));
  const shares: MergeShares = { af: [], nonAf: [] };
  // The current run of consecutive supraventricular intervals: end time and merged flag of each.
  let endsMs: number[] = [];
  let merged: boolean[] = [];
  const closeRun = () => {
    for (let w = 0; w + windowIntervals <= merged.length; w += windowIntervals) {
      const window = { startMs: endsMs[w]!, endMs: endsMs[w + windowIntervals - 1]! };
      if (window.startMs < LEARNING_MS) continue;
      const share = merged.slice(w, w + windowIntervals).filter(Boolean).length / windowIntervals;
      if (af.some((a) => a.startMs <= window.startMs && window.endMs <= a.endMs)) shares.af.push(share);
      else if (overlapMs(window, afOrFlutter) === 0) shares.nonAf.push(share);
    }
    endsMs = [];
    merged = [];
  };
  const sv = (i: number) => record.beats[i]!.cls === 'N' || record.beats[i]!.cls === 'S';
  for (let i = 1; i < record.beats.length; i++) {
    if (!sv(i) || !sv(i - 1)) { merger.flush(); closeRun(); continue; }
    const { timeMs } = record.beats[i]!;
    const rrMs = timeMs - record.beats[i - 1]!.timeMs;
    const out = merger.push(timeMs, rrMs);
    endsMs.push(timeMs);
    merged.push(false);
    // The held interval and this one were merged: both count as merged.
    if (out.some((o) => o.merged) && merged.length >= 2) merged[merged.length - 1] = merged[merged.length - 2] = true;
  }
  closeRun();
  return shares;
}
