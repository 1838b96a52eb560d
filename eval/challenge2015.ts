/**
 * PhysioNet/CinC Challenge 2015, ventricular tachycardia alarms (fhir-and-alarms.md §6): each
 * record is 5 min of bedside ECG ending in a VT alarm, labelled true or false by experts
 * (`alarms.csv`). Each ECG lead of the record (the signals in mV/µV; ABP, PPG and respiration are
 * not used) is replayed on its own as an ECG-only device (250 Hz frames with no beats) through
 * the production path — processor/ecg-beats.ts (QRS detector + beat morphology) → PatientStream →
 * the production detector set — using only the data up to the alarm (300 s; the Challenge's
 * real-time event). A lead "shows VT" when the vt detector has an episode overlapping the 10 s
 * before the alarm (the Challenge's VT alarm window). The verdict for the alarm depends on a
 * {@link VtSetting}: the first ECG lead only (what a single-lead device gives the processor) or
 * any ECG lead (a multi-lead monitor running the same per-lead code on every lead), and the vt
 * detector's run length (`minBeats`, the per-patient criterion: 5 = the PhysioNet/Philips alarm
 * default, 3 = the clinical definition of VT, 2017 AHA/ACC/HRS; fhir-and-alarms.md §5), and
 * optionally waveform evidence that needs no beats: the lead's VF-filter leakage
 * (processor/detectors/vf-leakage.ts) below a threshold in a 4 s window inside the alarm window.
 * The setting is chosen by cross-validation (eval/vt-cv.ts).
 * Separately, each lead is replayed exactly as the processor runs it (processor/ecg-beats.ts
 * `detectThroughBeatSource`: beats from the ECG and the ECG itself to the detectors) through the
 * production detector set with the production default criteria (contracts/criteria.ts: vt ≥ 5 V
 * beats or VF-filter leakage < 0.65 for 4 s): the "production default" row, on the first lead
 * (a single-lead device); nothing of it is chosen on these alarms.
 * Score = 100·(TP+TN)/(TP+TN+FP+5·FN).
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Detector } from '../processor/detectors/detector.ts';
import { DEFAULT_ALARM_CRITERIA } from '../contracts/criteria.ts';
import { detectorsForCriteria } from '../processor/detector-set.ts';
import { detectThroughBeatSource, EcgBeatSource } from '../processor/ecg-beats.ts';
import { readWfdbHeader, type WfdbHeader } from '../device-sim/wfdb-header.ts';
import { readWfdbRecord, type WfdbRecord } from '../device-sim/wfdb-record.ts';
import { PatientStream } from '../processor/patient-stream.ts';
import { VF_WINDOW_MS, VfLeakageMeter } from '../processor/detectors/vf-leakage.ts';
import { ecgOnlyFrames } from './qrs.ts';
import { EVAL_EPOCH_MS } from './replay.ts';
import { fileExists } from './records.ts';

/** The bedside monitor raised the alarm here (every Challenge record). */
export const ALARM_AT_MS = 300_000;
/** A VT alarm is true when VT occurs within this window before the alarm (Challenge rules). */
export const ALARM_WINDOW_MS = 10_000;

/** How the alarm is decided from the leads' vt episodes. */
export interface VtSetting {
  /** `first`: the record's first ECG lead only (a single-lead device); `all`: VT in any ECG lead. */
  leads: 'first' | 'all';
  /** vt detector run length (VtParams.minBeats; the per-patient criterion allows 3–10). */
  minBeats: number;
  /**
   * Also alarm when a lead's VF-filter leakage (processor/detectors/vf-leakage.ts) falls below
   * this in a 4 s window inside the alarm window: an organised VT/VF-like waveform without
   * (enough) detected V beats. null = beats only.
   */
  leakageBelow: number | null;
}

/** Run lengths compared: the alarm default (5, PhysioNet/Philips), 4, and the clinical definition (3, AHA/ACC/HRS 2017). */
export const VT_MIN_BEATS = [5, 4, 3] as const;
/** Leakage thresholds compared (Amann et al. 2005 compare the VF filter over its ROC; no single published alarm threshold). */
export const VT_LEAKAGE_THRESHOLDS = [null, 0.55, 0.6, 0.65, 0.7, 0.75] as const;
/** Every setting compared, in order of preference on ties (fewer leads, longer runs, beats only, lower thresholds: fewer alarms first). */
export const VT_SETTINGS: readonly VtSetting[] = (['first', 'all'] as const).flatMap((leads) =>
  VT_MIN_BEATS.flatMap((minBeats) => VT_LEAKAGE_THRESHOLDS.map((leakageBelow) => ({ leads, minBeats, leakageBelow }))));
/**
 * What production ran before the waveform evidence was wired in (issue 12 item 6): one ECG lead per
 * device, ≥ 5 V beats. The production default now is measured by replaying the production path
 * (LeadResult.productionVt), not by a setting of this grid.
 */
export const PRODUCTION_VT_SETTING: VtSetting = { leads: 'first', minBeats: 5, leakageBelow: null };

export const settingName = (s: VtSetting): string =>
  `${s.leads === 'first' ? 'first ECG lead' : 'any ECG lead'}, ≥ ${s.minBeats} V beats${s.leakageBelow === null ? '' : ` or VF leakage < ${s.leakageBelow}`}`;
export const sameSetting = (a: VtSetting, b: VtSetting): boolean => a.leads === b.leads && a.minBeats === b.minBeats && a.leakageBelow === b.leakageBelow;

export interface LeadResult {
  /** Lead name from the header (II, V, …). */
  lead: string;
  beats: number;
  vBeats: number;
  /** Per minBeats: vt episodes overlapping the window, [start, end] s from the record start (end null: still open). */
  vtEpisodes: Record<number, [number, number | null][]>;
  /** Lowest VF-filter leakage of the 4 s windows ending at each frame end inside the alarm window (1: none). */
  vfLeakage: number;
  /** vt episodes of the production path with the production default criteria overlapping the window, as vtEpisodes. */
  productionVt: [number, number | null][];
}

export interface AlarmRecord {
  name: string;
  /** Expert label: the alarm was a true VT. */
  truth: boolean;
  /** Every ECG lead of the record, in header order (the first one first). */
  leads: LeadResult[];
}

/** One alarm decided by one setting (the scoring unit). */
export interface AlarmResult {
  name: string;
  truth: boolean;
  /** Our verdict: VT in the window. */
  alarm: boolean;
}

/** Indexes of a record's ECG signals: those in mV or µV (ABP is in mmHg, PPG and RESP in NU). */
export function ecgSignalIndexes(header: WfdbHeader): number[] {
  return header.signals.flatMap((s, i) => (['mV', 'uV', 'µV'].includes(s.units) ? [i] : []));
}

/**
 * The labels of alarms.csv: `record,true_alarm` per line (1 = true alarm). Also read: the file
 * without its header line, and the Challenge's own three-column form `record,alarm type,label`
 * (the label is the last field; the alarm type is taken from the record's header, {@link alarmType}).
 */
export async function readAlarmLabels(dir: string): Promise<Map<string, boolean>> {
  const text = await readFile(join(dir, 'alarms.csv'), 'utf8');
  const out = new Map<string, boolean>();
  const lines = text.split(/\r?\n/).filter((l) => l.trim() !== '');
  lines.forEach((line, i) => {
    const fields = line.split(',').map((s) => s.trim());
    const name = fields[0]!;
    const label = fields.length >= 2 ? fields.at(-1) : undefined;
    if (label !== '0' && label !== '1') {
      if (i === 0) return; // the header line (`record,true_alarm`)
      throw new Error(`alarms.csv: record ${name} has ${label === undefined ? 'no label' : `label ${label}`} (expected 0 or 1)`);
    }
    out.set(name, label === '1');
  });
  if (out.size === 0) throw new Error(`alarms.csv in ${dir} labels no record (expected lines record,0 or record,1)`);
  return out;
}

/** The production detector set for a patient nobody configured (processor/detector-set.ts, default criteria). */
export const productionDetectors = (): Detector[] => detectorsForCriteria(DEFAULT_ALARM_CRITERIA);

/** Keeps each vt episode by onset ([start, end] s from the record start, end null while open). */
export class EpisodeLog {
  readonly #open = new Map<number, [number, number | null]>();
  add(changes: readonly { kind: string; type: string; onsetMs: number; endMs?: number }[]): void {
    for (const c of changes) {
      if (c.kind !== 'vt') continue;
      this.#open.set(c.onsetMs, [(c.onsetMs - EVAL_EPOCH_MS) / 1000, c.type === 'end' && c.endMs !== undefined ? (c.endMs - EVAL_EPOCH_MS) / 1000 : null]);
    }
  }
  /** Episodes overlapping the alarm window. */
  inWindow(): [number, number | null][] {
    const from = (ALARM_AT_MS - ALARM_WINDOW_MS) / 1000;
    return [...this.#open.values()].filter(([s, e]) => s <= ALARM_AT_MS / 1000 && (e === null || e >= from));
  }
}

/**
 * Replays one ECG lead up to the alarm. The beat source runs once, inside the production path
 * (`detectThroughBeatSource` into a stream of `production()` detectors, fed the ECG as the
 * processor feeds it); the derived frames it hands out also go to one beats-only PatientStream
 * per run length (`makeDetectors(minBeats)`), so every setting sees the same beats.
 */
export function evaluateLead(name: string, record: WfdbRecord, makeDetectors: (minBeats: number) => Detector[], minBeatsList: readonly number[] = VT_MIN_BEATS, production: () => Detector[] = productionDetectors): LeadResult {
  const input = [...ecgOnlyFrames(record)].filter((f) => f.ts + f.durMs <= EVAL_EPOCH_MS + ALARM_AT_MS);
  const source = new EcgBeatSource();
  const prodStream = new PatientStream(`cinc2015-${name}`, `cinc2015-${name}`, production());
  const prodLog = new EpisodeLog();
  const streams = minBeatsList.map((minBeats) => ({ minBeats, stream: new PatientStream(`cinc2015-${name}`, `cinc2015-${name}`, makeDetectors(minBeats)), log: new EpisodeLog() }));
  // Waveform evidence for the settings grid: the lead's VF-filter leakage over 4 s windows lying inside the alarm window.
  let meter: VfLeakageMeter | undefined;
  let vfLeakage = 1;
  let beats = 0;
  let vBeats = 0;
  for (const f of input) {
    if (f.leadOff) meter?.reset(); // as the production vt detector: lead-off samples are not fed, the window restarts
    else if (f.ecg) {
      meter ??= new VfLeakageMeter(f.ecg.fs);
      meter.push(f.ecg.uV);
      if (f.ts + f.durMs - VF_WINDOW_MS >= EVAL_EPOCH_MS + ALARM_AT_MS - ALARM_WINDOW_MS) vfLeakage = Math.min(vfLeakage, meter.leakage());
    }
    const { frames, changes } = detectThroughBeatSource(source, prodStream, f);
    prodLog.add(changes);
    for (const d of frames) {
      beats += d.beats.length;
      for (const b of d.beats) if (b.cls === 'V') vBeats++;
      for (const s of streams) s.log.add(s.stream.detect(d));
    }
  }
  const vtEpisodes: Record<number, [number, number | null][]> = {};
  for (const s of streams) vtEpisodes[s.minBeats] = s.log.inWindow();
  return { lead: record.ecg?.description ?? '', beats, vBeats, vtEpisodes, vfLeakage, productionVt: prodLog.inWindow() };
}

/** The verdict of production with its default criteria on one alarm: a vt episode of the first lead in the window. */
export function decideProduction(record: AlarmRecord): AlarmResult {
  return { name: record.name, truth: record.truth, alarm: (record.leads[0]?.productionVt.length ?? 0) > 0 };
}

/** The verdict of one setting on one alarm. */
export function decide(record: AlarmRecord, setting: VtSetting): AlarmResult {
  const leads = setting.leads === 'first' ? record.leads.slice(0, 1) : record.leads;
  const th = setting.leakageBelow;
  return { name: record.name, truth: record.truth, alarm: leads.some((l) => (l.vtEpisodes[setting.minBeats]?.length ?? 0) > 0 || (th !== null && l.vfLeakage < th)) };
}

export interface ChallengeScore {
  tp: number;
  fn: number;
  tn: number;
  fp: number;
  tpr: number;
  tnr: number;
  score: number;
}

export function challengeScore(results: readonly AlarmResult[]): ChallengeScore {
  const tp = results.filter((r) => r.truth && r.alarm).length;
  const fn = results.filter((r) => r.truth && !r.alarm).length;
  const tn = results.filter((r) => !r.truth && !r.alarm).length;
  const fp = results.filter((r) => !r.truth && r.alarm).length;
  return { tp, fn, tn, fp, tpr: (100 * tp) / Math.max(1, tp + fn), tnr: (100 * tn) / Math.max(1, tn + fp), score: (100 * (tp + tn)) / Math.max(1, tp + tn + fp + 5 * fn) };
}

/** The alarm type the Challenge writes in each header's first comment (e.g. `Ventricular_Tachycardia`). */
export const VT_ALARM_TYPE = 'Ventricular_Tachycardia';
const ALARM_TYPES = ['Asystole', 'Bradycardia', 'Tachycardia', 'Ventricular_Tachycardia', 'Ventricular_Flutter_Fib'];

/** The record's alarm type from its header comments; undefined when the header names none (then it is taken as a VT alarm). */
export function alarmType(header: WfdbHeader): string | undefined {
  return header.comments.map((c) => c.trim()).find((c) => ALARM_TYPES.includes(c));
}

/** Every record of a Challenge 2015 folder that alarms.csv labels (only `.hea`/`.mat` + alarms.csv needed), every ECG lead. */
export async function evaluateChallenge2015(dir: string, makeDetectors: (minBeats: number) => Detector[], only?: readonly string[]): Promise<AlarmRecord[]> {
  const labels = await readAlarmLabels(dir);
  const out: AlarmRecord[] = [];
  let absent = 0;
  for (const [name, truth] of labels) {
    if (only && !only.includes(name)) continue;
    // A folder may hold a subset of the records its alarms.csv lists.
    if (!(await fileExists(join(dir, `${name}.hea`)))) { absent++; continue; }
    const header = await readWfdbHeader(join(dir, `${name}.hea`));
    const type = alarmType(header);
    if (type !== undefined && type !== VT_ALARM_TYPE) {
      // The Challenge's other alarm types (asystole, brady, tachy, VF) are not VT alarms: not scored here.
      process.stderr.write(`  challenge2015/${name}: ${type} alarm, not a VT alarm: skipped\n`);
      continue;
    }
    const leads: LeadResult[] = [];
    for (const index of ecgSignalIndexes(header)) {
      const record = await readWfdbRecord(join(dir, name), { ecgSignalIndex: index });
      leads.push(evaluateLead(name, record, makeDetectors));
    }
    if (leads.length === 0) throw new Error(`challenge2015: record ${name} has no ECG signal (no signal in mV or µV)`);
    out.push({ name, truth, leads });
  }
  if (absent > 0) process.stderr.write(`  challenge2015: ${absent} records listed in alarms.csv have no .hea in ${dir}: skipped\n`);
  return out;
}
