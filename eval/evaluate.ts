/**
 * Scores one replayed record against its reference annotations and sums records into the
 * EC57-style summary the harness prints.
 */
import { ALERT_KINDS, type AlertKind } from '../contracts/alert.ts';
import type { Detector } from '../processor/detectors/detector.ts';
import { compareEpisodes, mergeIntervals, overlapMs, sumComparisons, type EpisodeComparison, type Interval } from './epicmp.ts';
import { agreement, thresholdGroundTruth, THRESHOLD_KINDS, type Agreement, type ThresholdKind } from './ground-truth.ts';
import type { EvalDatabase, ReferenceRecord } from './records.ts';
import { replayRecord, type DetectedEpisode } from './replay.ts';

/** EC57: the first 5 minutes of each record are a learning period, not scored. */
export const EC57_LEARNING_MS = 5 * 60 * 1000;
/** Non-standard epicmp `-i 30`: only episodes of at least 30 s (the AF reporting criterion). */
export const AF_MIN_EPISODE_MS = 30_000;

export interface AfResult {
  /** epicmp defaults (EC57): every reference episode counts. */
  standard: EpisodeComparison;
  /** epicmp `-i 30`: episodes shorter than 30 s ignored on both sides. */
  min30s: EpisodeComparison;
  /** Onset-to-alarm delay of detections that overlap reference AF, ms. */
  latenciesMs: number[];
  /** Beat by beat (after 5 min, flutter excluded): beat inside a detected episode vs inside reference AF. */
  beats: BeatConfusion;
}

/** Beat-level confusion counts, the unit of the published AFDB Se/Sp figures. */
export interface BeatConfusion {
  tp: number;
  fn: number;
  fp: number;
  tn: number;
}

/** Labels every beat from `fromMs` on by membership in `detected` vs `reference`, skipping `excluded`. */
export function beatConfusion(beatTimesMs: readonly number[], reference: readonly Interval[], detected: readonly Interval[], excluded: readonly Interval[], fromMs: number): BeatConfusion {
  const inside = (list: readonly Interval[]) => {
    let k = 0;
    return (t: number) => {
      while (k < list.length && list[k]!.endMs <= t) k++;
      return k < list.length && list[k]!.startMs <= t;
    };
  };
  const inRef = inside(mergeIntervals(reference));
  const inDet = inside(mergeIntervals(detected));
  const inExcl = inside(mergeIntervals(excluded));
  const c: BeatConfusion = { tp: 0, fn: 0, fp: 0, tn: 0 };
  for (const t of beatTimesMs) {
    if (t < fromMs) continue;
    const r = inRef(t);
    const d = inDet(t);
    if (inExcl(t)) continue;
    if (r && d) c.tp++;
    else if (r) c.fn++;
    else if (d) c.fp++;
    else c.tn++;
  }
  return c;
}

export interface KindAlarms {
  /** Alarms raised in the scope (whole record; afdb: not overlapping reference AF/flutter). */
  alarms: number;
  /** Of those, not supported by the ground truth of their kind. */
  false: number;
}

export interface RecordResult {
  database: EvalDatabase;
  name: string;
  durationMs: number;
  beats: number;
  beatSource: string;
  frames: number;
  runtimeMs: number;
  /** Detected episodes per kind (whole record). */
  episodes: Partial<Record<AlertKind, number>>;
  threshold: Record<ThresholdKind, Agreement>;
  /** VT alarms against the expert `(VT` rhythm episodes, when the record has rhythm labels. */
  vtRhythm?: Agreement;
  /** Records with AF reference annotations (afdb). */
  af?: AfResult;
  /** Scope for the alarm rates: ms of record (afdb: outside reference AF and flutter). */
  alarmScopeMs: number;
  alarms: Partial<Record<AlertKind, KindAlarms>>;
  /**
   * afdb only: the other side of the scope, the alarms overlapping reference AF/flutter, and ms of
   * it (the alarm burden of a patient in AF, which `alarms` leaves out). `false` there is 0 for
   * afib and counts threshold alarms without a ground-truth episode of their kind.
   */
  inAf?: { scopeMs: number; alarms: Partial<Record<AlertKind, KindAlarms>> };
  /** Detected episodes, for the JSON file (times in ms from the record start). */
  detected: { kind: AlertKind; startMs: number; endMs: number; ended: boolean; latencyMs: number }[];
}

const PHYSIOLOGICAL_KINDS = ALERT_KINDS.filter((k) => !['signal_loss', 'lead_off', 'low_battery'].includes(k));
const toIntervals = (eps: readonly DetectedEpisode[]): Interval[] => eps.map((e) => ({ startMs: e.startMs, endMs: e.endMs }));
const rhythm = (record: ReferenceRecord, label: string) => record.rhythms.filter((r) => r.rhythm === label);

/** Replays one record through `makeDetectors()` and scores it. */
export function evaluateRecord(record: ReferenceRecord, makeDetectors: () => Detector[]): RecordResult {
  const t0 = performance.now();
  const replay = replayRecord(record, makeDetectors());
  const runtimeMs = performance.now() - t0;
  const byKind = new Map<AlertKind, DetectedEpisode[]>();
  for (const e of replay.episodes) byKind.set(e.kind, [...(byKind.get(e.kind) ?? []), e]);
  const of = (k: AlertKind) => byKind.get(k) ?? [];

  const truth = thresholdGroundTruth(record);
  const threshold = Object.fromEntries(THRESHOLD_KINDS.map((k) => [k, agreement(truth[k], toIntervals(of(k)))])) as Record<ThresholdKind, Agreement>;

  const vtRef = rhythm(record, '(VT');
  const hasRhythmLabels = record.rhythms.length > 0 && record.database === 'mitdb';
  const afRef = mergeIntervals(rhythm(record, '(AFIB'));
  const aflRef = mergeIntervals(rhythm(record, '(AFL'));

  let af: AfResult | undefined;
  if (record.database === 'afdb') {
    const test = toIntervals(of('afib'));
    const options = { startMs: EC57_LEARNING_MS, endMs: record.durationMs, exclusions: aflRef };
    af = {
      standard: compareEpisodes(afRef, test, options),
      min30s: compareEpisodes(afRef, test, { ...options, minEpisodeMs: AF_MIN_EPISODE_MS }),
      latenciesMs: of('afib').filter((e) => overlapMs(e, afRef) > 0).map((e) => e.latencyMs),
      beats: beatConfusion(record.beats.map((b) => b.timeMs), afRef, test, aflRef, EC57_LEARNING_MS),
    };
  }

  const { alarmScopeMs, alarms, inAf } = scoreAlarms(record, replay.episodes, truth);

  return {
    database: record.database,
    name: record.name,
    durationMs: record.durationMs,
    beats: record.beats.length,
    beatSource: record.beatSource,
    frames: replay.frames,
    runtimeMs,
    episodes: Object.fromEntries([...byKind].map(([k, v]) => [k, v.length])),
    threshold,
    ...(hasRhythmLabels ? { vtRhythm: agreement(vtRef, toIntervals(of('vt'))) } : {}),
    ...(af ? { af } : {}),
    alarmScopeMs,
    alarms,
    ...(inAf ? { inAf } : {}),
    detected: replay.episodes.map((e) => ({ kind: e.kind, startMs: e.startMs, endMs: e.endMs, ended: e.ended, latencyMs: e.latencyMs })),
  };
}

/** An alarm episode to score: its kind and extent, ms from the record start. */
export type ScoredEpisode = Pick<DetectedEpisode, 'kind' | 'startMs' | 'endMs'>;

/**
 * Alarms per kind in the alarm-rate scope, and how many of them the ground truth does not
 * support: threshold kinds against the criterion applied to the reference beats
 * (eval/ground-truth.ts), afib against reference AF or flutter. The scope is the whole record,
 * on afdb only what lies outside reference AF/flutter ("non-AF stretches"); there `inAf` counts
 * the alarms that overlap reference AF/flutter, per its duration (the afdb 04908 finding).
 */
export function scoreAlarms(record: ReferenceRecord, episodes: readonly ScoredEpisode[], truth = thresholdGroundTruth(record)): { alarmScopeMs: number; alarms: Partial<Record<AlertKind, KindAlarms>>; unsupported: ScoredEpisode[]; inAf?: NonNullable<RecordResult['inAf']> } {
  const afOrFlutter = mergeIntervals([...rhythm(record, '(AFIB'), ...rhythm(record, '(AFL')]);
  const scoped = (e: ScoredEpisode) => record.database !== 'afdb' || overlapMs({ startMs: e.startMs, endMs: Math.max(e.endMs, e.startMs + 1) }, afOrFlutter) === 0;
  const afOrFlutterMs = afOrFlutter.reduce((s, i) => s + i.endMs - i.startMs, 0);
  const alarms: Partial<Record<AlertKind, KindAlarms>> = {};
  const unsupported: ScoredEpisode[] = [];
  for (const kind of PHYSIOLOGICAL_KINDS) {
    const inScope = episodes.filter((e) => e.kind === kind && scoped(e));
    const supportedBy: Interval[] = kind === 'afib' ? afOrFlutter : (truth[kind as ThresholdKind] ?? []);
    const unsupportedOfKind = inScope.filter((e) => !supportedBy.some((t) => t.startMs <= e.endMs && e.startMs <= t.endMs));
    alarms[kind] = { alarms: inScope.length, false: unsupportedOfKind.length };
    unsupported.push(...unsupportedOfKind);
  }
  unsupported.sort((a, b) => a.startMs - b.startMs);
  const inAf: Partial<Record<AlertKind, KindAlarms>> = {};
  for (const kind of PHYSIOLOGICAL_KINDS) {
    const during = episodes.filter((e) => e.kind === kind && !scoped(e));
    const supportedBy: Interval[] = kind === 'afib' ? afOrFlutter : (truth[kind as ThresholdKind] ?? []);
    inAf[kind] = { alarms: during.length, false: during.filter((e) => !supportedBy.some((t) => t.startMs <= e.endMs && e.startMs <= t.endMs)).length };
  }
  const afdb = record.database === 'afdb';
  return { alarmScopeMs: afdb ? record.durationMs - afOrFlutterMs : record.durationMs, alarms, unsupported, ...(afdb ? { inAf: { scopeMs: afOrFlutterMs, alarms: inAf } } : {}) };
}

/** Alarms per 24 h of reference AF/flutter (afdb records' `inAf`). */
export function alarmRatesInAf(results: readonly Pick<RecordResult, 'inAf'>[]): AlarmRate {
  return alarmRates(results.flatMap((r) => (r.inAf ? [{ alarmScopeMs: r.inAf.scopeMs, alarms: r.inAf.alarms }] : [])));
}

/** Sums agreements (gross over records). */
export function sumAgreements(list: readonly Agreement[]): Agreement {
  const total: Agreement = { truth: 0, detected: 0, matched: 0, missed: 0, extra: 0, sameOnset: 0, maxOnsetErrorMs: 0 };
  for (const a of list) {
    total.truth += a.truth; total.detected += a.detected; total.matched += a.matched;
    total.missed += a.missed; total.extra += a.extra; total.sameOnset += a.sameOnset;
    total.maxOnsetErrorMs = Math.max(total.maxOnsetErrorMs, a.maxOnsetErrorMs);
  }
  return total;
}

export interface AlarmRate {
  hours: number;
  byKind: Partial<Record<AlertKind, { alarms: number; false: number; alarmsPer24h: number; falsePer24h: number }>>;
}

/** Alarms per 24 h of scope over a set of records. */
export function alarmRates(results: readonly Pick<RecordResult, 'alarmScopeMs' | 'alarms'>[]): AlarmRate {
  const scopeMs = results.reduce((s, r) => s + r.alarmScopeMs, 0);
  const hours = scopeMs / 3_600_000;
  const byKind: AlarmRate['byKind'] = {};
  for (const kind of PHYSIOLOGICAL_KINDS) {
    const alarms = results.reduce((s, r) => s + (r.alarms[kind]?.alarms ?? 0), 0);
    const falseCount = results.reduce((s, r) => s + (r.alarms[kind]?.false ?? 0), 0);
    byKind[kind] = { alarms, false: falseCount, alarmsPer24h: hours > 0 ? (alarms * 24) / hours : 0, falsePer24h: hours > 0 ? (falseCount * 24) / hours : 0 };
  }
  return { hours, byKind };
}

export interface AfSummary {
  standard: EpisodeComparison;
  min30s: EpisodeComparison;
  latenciesMs: number[];
  beats: BeatConfusion;
}

/** Gross AF statistics over the records that have AF reference annotations. */
export function afSummary(results: readonly RecordResult[]): AfSummary | undefined {
  const af = results.flatMap((r) => (r.af ? [r.af] : []));
  if (af.length === 0) return undefined;
  return {
    standard: sumComparisons(af.map((a) => a.standard)),
    min30s: sumComparisons(af.map((a) => a.min30s)),
    latenciesMs: af.flatMap((a) => a.latenciesMs),
    beats: af.reduce((t, a) => ({ tp: t.tp + a.beats.tp, fn: t.fn + a.beats.fn, fp: t.fp + a.beats.fp, tn: t.tn + a.beats.tn }), { tp: 0, fn: 0, fp: 0, tn: 0 }),
  };
}
