/**
 * The issue-12 parts of `npm run eval` that are not AF: QRS detection from raw ECG (bxb against
 * the reference beats of every record with a signal file), VT on the CinC 2015 alarm records,
 * and the nuisance-alarm rates before/after the limit-alarm delays (the defaults since issue 12).
 */
import { join } from 'node:path';
import { readWfdbHeader, type WfdbHeader } from '../device-sim/wfdb-header.ts';
import { readWfdbRecord, type WfdbRecord } from '../device-sim/wfdb-record.ts';
import { BRADY_IMMEDIATE, createBradyDetector } from '../processor/detectors/brady.ts';
import { createTachyDetector, TACHY_IMMEDIATE } from '../processor/detectors/tachy.ts';
import { createPauseDetector } from '../processor/detectors/pause.ts';
import type { Detector } from '../processor/detectors/detector.ts';
import { formatInterval, recordBootstrap, wilsonInterval } from './confidence.ts';
import { pp, se, sumBxb, vfEpisodes, vPp, vSe, type ExcludedInterval } from './bxb.ts';
import { readWfdbAnnotations } from '../device-sim/wfdb-annotations.ts';
import { recordDurationMs } from '../device-sim/replay.ts';
import { challengeScore, decide, decideProduction, evaluateChallenge2015, PRODUCTION_VT_SETTING, sameSetting, settingName, VT_SETTINGS, type AlarmRecord, type ChallengeScore, type VtSetting } from './challenge2015.ts';
import { chooseVtSetting, crossValidateVt, leaveOneOutVt, type VtCrossValidation } from './vt-cv.ts';
import { createVtDetector } from '../processor/detectors/vt.ts';
import { evaluationDetectors } from './detector-set.ts';
import { alarmRates, scoreAlarms, type AlarmRate, type KindAlarms, type RecordResult, type ScoredEpisode } from './evaluate.ts';
import { runEvaluation } from './harness.ts';
import { evaluateQrsRecord, replayEcgOnly, type QrsRecordResult } from './qrs.ts';
import { listRecords, loadRecord, type EvalDatabase, type ReferenceRecord } from './records.ts';
import type { AlertKind } from '../contracts/alert.ts';

const pct = (x: number | undefined) => (x === undefined ? '-' : x.toFixed(2));

/**
 * The lead the QRS detector is scored on: MLII where the record has it — the limb lead of 45 of
 * the 48 MIT-BIH records, the one published detectors report on, and the closest to a patch's
 * lead — else the first signal (mitdb 102 and 104 have only chest leads; 114 has MLII second).
 */
export function qrsLeadIndex(header: WfdbHeader): number {
  const mlii = header.signals.findIndex((s) => s.description === 'MLII');
  return mlii >= 0 ? mlii : 0;
}

/**
 * Which lead the QRS evaluation reads: the scored one ({@link qrsLeadIndex}), or the record's
 * other lead — the first signal that is not the scored one (mitdb: V1, V2, V4 or V5, a chest lead
 * like a patch's), never chosen on and reported apart.
 */
export type QrsLead = 'scored' | 'other';

/**
 * One record as the QRS evaluation scores it: its lead (`lead`) and the reference's VF episodes
 * ([ … ] in the expert annotations, not scored: EC57 / bxb); undefined when it has no signal (or
 * no other lead) or no reference beats.
 */
export async function loadQrsRecord(dir: string, name: string, lead: QrsLead = 'scored'): Promise<{ record: WfdbRecord; vf: ExcludedInterval[] } | undefined> {
  const header = await readWfdbHeader(join(dir, `${name}.hea`));
  const scored = qrsLeadIndex(header);
  const index = lead === 'scored' ? scored : header.signals.findIndex((_, i) => i !== scored);
  if (index < 0 || index >= header.signals.length) return undefined;
  const record = await readWfdbRecord(join(dir, name), { ecgSignalIndex: index });
  if (!record.ecg || record.beats.length === 0) return undefined;
  const vf = record.beatAnnotationPath ? vfEpisodes(await readWfdbAnnotations(record.beatAnnotationPath), record.header.fsHz, recordDurationMs(record)) : [];
  return { record, vf };
}

/** bxb of the QRS detector on every record of `db` that has a signal file (on `lead`). */
export async function qrsEvaluation(dataDir: string, db: string, only?: readonly string[], lead: QrsLead = 'scored'): Promise<QrsRecordResult[]> {
  const out: QrsRecordResult[] = [];
  for (const name of await listRecords(join(dataDir, db))) {
    if (only && !only.includes(name)) continue;
    const loaded = await loadQrsRecord(join(dataDir, db), name, lead);
    if (loaded) out.push(evaluateQrsRecord(name, loaded.record, loaded.vf));
  }
  return out;
}

export function formatQrs(db: string, results: readonly QrsRecordResult[], lead: QrsLead = 'scored'): string {
  const rows = results.map((r) => [r.name, r.lead, String(r.counts.tp + r.counts.fn), String(r.counts.tp), String(r.counts.fn), String(r.counts.fp), pct(se(r.counts)), pct(pp(r.counts)), pct(vSe(r.counts)), pct(vPp(r.counts))]);
  const g = sumBxb(results.map((r) => r.counts));
  rows.push(['gross', '', String(g.tp + g.fn), String(g.tp), String(g.fn), String(g.fp), pct(se(g)), pct(pp(g)), pct(vSe(g)), pct(vPp(g))]);
  const all = sumBxb(results.map((r) => r.countsAll));
  const vf = results.flatMap((r) => r.vfEpisodes.map((e) => `${r.name} ${(e.fromMs / 1000).toFixed(1)}–${(e.toMs / 1000).toFixed(1)} s`));
  const ecgS = results.reduce((s, r) => s + r.durationMs / 1000, 0);
  const cpuMs = results.reduce((s, r) => s + r.cpuMs, 0);
  const header = ['record', 'lead', 'ref beats', 'TP', 'FN', 'FP', 'QRS Se', 'QRS +P', 'VEB Se', 'VEB +P'];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => (i <= 1 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  return [
    lead === 'scored'
      ? `QRS detection from the raw ECG (${db}, lead MLII where the record has it, else its first signal, as an ECG-only device through processor/ecg-beats.ts), EC57 / WFDB bxb: 150 ms match window, first 5 min and ventricular flutter/fibrillation episodes ([ … ]) excluded`
      : `The same on each record's other lead (${db}: the chest lead, as a patch records; not the lead published detectors report on, nothing chosen on it — a check on data the detector was not developed on):`,
    line(header), ...rows.map(line),
    vf.length === 0
      ? 'no VF episode in these records: nothing else excluded'
      : `VF episodes excluded: ${vf.join(', ')}; with nothing excluded but the first 5 min: TP ${all.tp} FN ${all.fn} FP ${all.fp}, QRS Se ${pct(se(all))}, +P ${pct(pp(all))}`,
    `gross QRS Se / +P, 95 % CI (record bootstrap: the ${results.length} records resampled, eval/confidence.ts; beats of one record are not independent): ${formatInterval(recordBootstrap(results, (r) => se(sumBxb(r.map((x) => x.counts)))), 2)} / ${formatInterval(recordBootstrap(results, (r) => pp(sumBxb(r.map((x) => x.counts)))), 2)}`,
    `beat source CPU: ${(cpuMs / 1000).toFixed(2)} s for ${(ecgS / 3600).toFixed(2)} h of ECG = ${((cpuMs * 1000) / ecgS).toFixed(1)} µs per second of ECG (in-harness; see bench/qrs-detector.ts)`,
  ].join('\n');
}

/** One record's alarms on the ECG-only path ({@link ecgPathAlarms}). */
export interface EcgPathRecordAlarms {
  name: string;
  lead: string;
  alarmScopeMs: number;
  alarms: Partial<Record<AlertKind, KindAlarms>>;
  /** The episodes the ground truth does not support, ms from the record start. */
  falseEpisodes: ScoredEpisode[];
}

/** Each record of `db` (or of `only`) with a signal on `lead` and reference beats: the lead ({@link loadQrsRecord}) and the reference. */
export async function* recordsWithLead(dataDir: string, db: EvalDatabase, only?: readonly string[], lead: QrsLead = 'scored'): AsyncGenerator<{ name: string; record: WfdbRecord; reference: ReferenceRecord }> {
  const dir = join(dataDir, db);
  for (const name of await listRecords(dir)) {
    if (only && !only.includes(name)) continue;
    const loaded = await loadQrsRecord(dir, name, lead);
    if (loaded) yield { name, record: loaded.record, reference: await loadRecord(db, dir, name) };
  }
}

/**
 * Physiological alarms when the records' ECG is all a device sends: each record with a signal
 * (its scored lead, {@link qrsLeadIndex}, or its other one: `lead`) replayed as an ECG-only
 * device through the production path (qrs.ts `replayEcgOnly`: beats from the QRS detector, the
 * ECG to the detectors), scored against the ground truth the reference beats give (evaluate.ts
 * `scoreAlarms`) — the same scoring as the reference-beat replay, so the two rate tables compare
 * the beat source's effect on alarms.
 */
export async function ecgPathAlarms(dataDir: string, db: EvalDatabase, only?: readonly string[], lead: QrsLead = 'scored'): Promise<EcgPathRecordAlarms[]> {
  const out: EcgPathRecordAlarms[] = [];
  for await (const { name, record, reference } of recordsWithLead(dataDir, db, only, lead)) {
    const { alarmScopeMs, alarms, unsupported } = scoreAlarms(reference, replayEcgOnly(record, evaluationDetectors()));
    out.push({ name, lead: record.ecg?.description ?? '', alarmScopeMs, alarms, falseEpisodes: unsupported });
  }
  return out;
}

export function formatEcgPathAlarms(db: string, ecgPath: readonly EcgPathRecordAlarms[], referencePath: AlarmRate, lead: QrsLead = 'scored'): string {
  const kinds = ['asystole', 'pause', 'extreme_brady', 'brady', 'extreme_tachy', 'tachy', 'vt', 'afib'] as const;
  const ecg = alarmRates(ecgPath);
  const cell = (r: AlarmRate, k: string) => { const x = r.byKind[k as keyof AlarmRate['byKind']]; return x ? `${x.alarms} (${x.false}) ${x.alarmsPer24h.toFixed(1)} (${x.falsePer24h.toFixed(1)})` : '-'; };
  const rows = kinds.map((k) => [k, cell(referencePath, k), cell(ecg, k)]);
  const header = ['kind', 'reference beats: alarms (false), per 24 h', 'beats from the ECG: alarms (false), per 24 h'];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  const listed = ecgPath.flatMap((r) => r.falseEpisodes.map((e) => `${r.name} ${e.kind} ${(e.startMs / 1000).toFixed(0)} s`));
  return [
    `Physiological alarms on the ECG-only path (${db}, ${ecg.hours.toFixed(1)} h: each record's ${lead === 'scored' ? 'scored lead' : 'other (chest) lead'} replayed as an ECG-only device — beats from the processor's QRS detector, the ECG fed to the detectors, production detectors — next to the same records' reference beats sent as firmware beats; false = no ground-truth episode of the kind in the reference beats; afib: no reference AF or flutter):`,
    line(header), ...rows.map(line),
    `not supported by the reference beats (ECG path): ${listed.join(', ') || 'none'}`,
  ].join('\n');
}

export interface Challenge2015Summary {
  /** Every setting on all 100 alarms (descriptive: not a choice). */
  bySetting: { setting: VtSetting; score: ChallengeScore; missed: string[] }[];
  /** Production as it runs (processor path, default criteria: ≥ 5 V beats whose complexes are alike, or leakage < 0.65 for 4 s), first lead. */
  production: ChallengeScore;
  productionMissed: string[];
  /** The setting chosen by 5-fold cross-validation, scored on held-out alarms only. */
  cv: VtCrossValidation;
  /** Leave-one-record-out, the same choice rule. */
  loro: VtCrossValidation;
  /** The setting the cross-validation chooses on all alarms (what a re-measurement on other records would use). */
  chosen: VtSetting;
  alarms: AlarmRecord[];
}

/**
 * The evaluation detector set with the vt detector's run length set (the per-patient `vt.minBeats`),
 * beats only: the grid's waveform evidence is the lead's leakage measured separately (LeadResult.vfLeakage).
 */
export function vtDetectors(minBeats: number): Detector[] {
  return [...evaluationDetectors().filter((d) => d.kind !== 'vt'), createVtDetector({ minBeats, leakageBelow: 0 })];
}

export async function challenge2015Evaluation(dir: string, only?: readonly string[]): Promise<Challenge2015Summary> {
  const alarms = await evaluateChallenge2015(dir, vtDetectors, only);
  const bySetting = VT_SETTINGS.map((setting) => {
    const results = alarms.map((a) => decide(a, setting));
    return { setting, score: challengeScore(results), missed: results.filter((r) => r.truth && !r.alarm).map((r) => r.name) };
  });
  return {
    bySetting,
    production: challengeScore(alarms.map(decideProduction)),
    productionMissed: alarms.filter((a) => a.truth && !decideProduction(a).alarm).map((a) => a.name),
    cv: crossValidateVt(alarms),
    loro: leaveOneOutVt(alarms),
    chosen: chooseVtSetting(alarms).setting,
    alarms,
  };
}

/** 95 % Wilson intervals of TPR and TNR, "a–b / c–d". */
const vtCi = (c: ChallengeScore) => `${formatInterval(wilsonInterval(c.tp, c.tp + c.fn))} / ${formatInterval(wilsonInterval(c.tn, c.tn + c.fp))}`;

const scoreCells = (c: ChallengeScore) => [String(c.tp), String(c.fn), String(c.tn), String(c.fp), c.tpr.toFixed(1), c.tnr.toFixed(1), c.score.toFixed(2)];

export function formatChallenge2015(s: Challenge2015Summary): string {
  const header = ['setting', 'TP', 'FN', 'TN', 'FP', 'TPR %', 'TNR %', 'score', 'missed true VT'];
  const rows = s.bySetting.map((b) => [settingName(b.setting) + (sameSetting(b.setting, PRODUCTION_VT_SETTING) ? ' (production before the waveform rule)' : ''), ...scoreCells(b.score), b.missed.join(' ') || '-']);
  const chosen = (cv: VtCrossValidation) => {
    const count = new Map<string, number>();
    for (const f of cv.folds) { const k = `${f.chosen.leads}/${f.chosen.minBeats}${f.chosen.leakageBelow === null ? '' : `/leak<${f.chosen.leakageBelow}`}`; count.set(k, (count.get(k) ?? 0) + 1); }
    return [...count].map(([k, v]) => `${k} ×${v}`).join(', ');
  };
  const missedHeldOut = (cv: VtCrossValidation) => cv.folds.flatMap((f) => s.alarms.filter((a) => f.test.includes(a.name) && a.truth && !decide(a, f.chosen).alarm).map((a) => a.name)).join(' ') || '-';
  rows.push(['production default as it runs (processor path, default criteria: first lead, ≥ 5 alike V beats or leakage < 0.65 for 4 s)', ...scoreCells(s.production), s.productionMissed.join(' ') || '-']);
  rows.push([`5-fold CV by record, held out (chosen: ${chosen(s.cv)})`, ...scoreCells(s.cv.heldOut), missedHeldOut(s.cv)]);
  rows.push([`leave-one-record-out, held out (chosen: ${chosen(s.loro)})`, ...scoreCells(s.loro.heldOut), missedHeldOut(s.loro)]);
  const n = s.alarms.length;
  const trueN = s.alarms.filter((a) => a.truth).length;
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === 0 || i === cells.length - 1 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ').trimEnd();
  return [
    `CinC 2015 VT alarms: ${n} (true ${trueN}); each ECG lead up to the alarm at 300 s, beats from the ECG, production vt detector; a lead shows VT = vt episode in the 10 s before the alarm`,
    line(header), ...rows.map(line),
    `TPR / TNR, 95 % CI (Wilson, alarm records as independent units, eval/confidence.ts): production ${vtCi(s.production)}; 5-fold CV held out ${vtCi(s.cv.heldOut)}; leave-one-record-out held out ${vtCi(s.loro.heldOut)}`,
    `published best, real-time: 81.39 (Plesinger et al.); all VT alarms kept: ${((100 * trueN) / Math.max(1, n)).toFixed(2)}. Setting chosen on all alarms (sensitivity first, then score): ${settingName(s.chosen)}`,
  ].join('\n');
}

/**
 * The evaluation detector set as before issue 12 item 5: limit alarms on the consecutive-beat
 * rule alone (no alarm delay), and a pause for every silence ≥ 3 s, also the asystole's.
 */
export function beforeNuisanceDetectors(): Detector[] {
  const replaced = new Set(['brady', 'tachy', 'pause']);
  return [...evaluationDetectors().filter((d) => !replaced.has(d.kind)), createBradyDetector(BRADY_IMMEDIATE), createTachyDetector(TACHY_IMMEDIATE), createPauseDetector()];
}

export interface NuisanceComparison {
  database: EvalDatabase;
  before: AlarmRate;
  after: AlarmRate;
  /** The same per record (the issue's target is per patient-day: which patients exceed it). */
  records: { name: string; before: AlarmRate; after: AlarmRate }[];
}

/**
 * Alarm rates before issue 12 item 5 (re-run here: {@link beforeNuisanceDetectors}) and with the
 * production defaults (after: the main run's per-record results, `after`).
 */
export async function nuisanceEvaluation(dataDir: string, databases: readonly EvalDatabase[], after: readonly RecordResult[], only?: readonly string[]): Promise<NuisanceComparison[]> {
  const run = await runEvaluation({ dataDir, databases, makeDetectors: beforeNuisanceDetectors, ...(only ? { records: only } : {}) });
  return databases.map((database) => {
    const beforeResults = run.results.filter((r) => r.database === database);
    const afterResults = after.filter((r) => r.database === database);
    const records = afterResults.map((a) => {
      const b = beforeResults.find((r) => r.name === a.name);
      return { name: a.name, before: alarmRates(b ? [b] : []), after: alarmRates([a]) };
    });
    return { database, before: alarmRates(beforeResults), after: alarmRates(afterResults), records };
  });
}

/** The medium-priority physiological kinds (contracts/alert.ts DEFAULT_PRIORITY). */
const MEDIUM = ['pause', 'brady', 'tachy', 'afib'] as const;

export function formatNuisance(list: readonly NuisanceComparison[]): string {
  const kinds = ['asystole', 'pause', 'extreme_brady', 'brady', 'extreme_tachy', 'tachy', 'vt', 'afib'] as const;
  const per24h = (r: AlarmRate, ks: readonly string[]) => ks.reduce((sum, k) => sum + (r.byKind[k as keyof AlarmRate['byKind']]?.alarmsPer24h ?? 0), 0);
  const rate = (r: AlarmRate, ks: readonly string[]) => per24h(r, ks).toFixed(1);
  const rows = [
    ...kinds.map((k) => [k, ...list.flatMap((c) => [rate(c.before, [k]), rate(c.after, [k])])]),
    ['medium (pause, brady, tachy, afib)', ...list.flatMap((c) => [rate(c.before, MEDIUM), rate(c.after, MEDIUM)])],
    ['all physiological', ...list.flatMap((c) => [rate(c.before, kinds), rate(c.after, kinds)])],
  ];
  const header = ['kind', ...list.flatMap((c) => [`${c.database} before /24h`, `${c.database} after /24h`])];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => (i <= 1 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  // Per patient: the target is < 1 medium alarm per patient-day, so say which records exceed it.
  const perRecord = list.map((c) => {
    const above = c.records.filter((r) => per24h(r.after, MEDIUM) >= 1);
    const cells = c.records.map((r) => `${r.name} ${rate(r.before, MEDIUM)} → ${rate(r.after, MEDIUM)}`);
    return `  ${c.database}: ${above.length} of ${c.records.length} records at ≥ 1 per 24 h after${above.length > 0 ? ` (${above.map((r) => r.name).join(', ')})` : ''}; before → after: ${cells.join(', ')}`;
  });
  return [
    'Physiological alarms per 24 h: before issue 12 item 5 (limit alarms without delay: brady.ts BRADY_IMMEDIATE, tachy.ts TACHY_IMMEDIATE; a pause also for every asystole) vs the production defaults (after: brady 2 min, tachy 5 min, 30 s after a sudden onset; one alarm per silence). afdb: outside reference AF/flutter.',
    line(header), ...rows.map(line),
    'Medium alarms (pause, brady, tachy, afib) per 24 h by record (afdb: outside reference AF/flutter):',
    ...perRecord,
  ].join('\n');
}
