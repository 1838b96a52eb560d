/**
 * PhysioNet/CinC Challenge 2015, ventricular tachycardia alarms (fhir-and-alarms.md §6): each
 * record is 5 min of bedside ECG ending in a VT alarm, labelled true or false by experts
 * (`alarms.csv`). The record's first ECG lead is replayed as an ECG-only device (250 Hz frames
 * with no beats) through the production path — processor/ecg-beats.ts (QRS detector + beat
 * morphology) → PatientStream → the production detector set — using only the data up to the
 * alarm (300 s; the Challenge's real-time event). Our verdict for the alarm is "true" when the
 * vt detector has an episode overlapping the 10 s before the alarm (the Challenge's VT alarm
 * window), else "false". Score = 100·(TP+TN)/(TP+TN+FP+5·FN).
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Detector } from '../processor/detectors/detector.ts';
import type { WfdbRecord } from '../device-sim/wfdb-record.ts';
import { readWfdbRecord } from '../device-sim/wfdb-record.ts';
import { PatientStream } from '../processor/patient-stream.ts';
import { derivedFrames, ecgOnlyFrames } from './qrs.ts';
import { EVAL_EPOCH_MS } from './replay.ts';

/** The bedside monitor raised the alarm here (every Challenge record). */
export const ALARM_AT_MS = 300_000;
/** A VT alarm is true when VT occurs within this window before the alarm (Challenge rules). */
export const ALARM_WINDOW_MS = 10_000;

export interface AlarmResult {
  name: string;
  /** Expert label: the alarm was a true VT. */
  truth: boolean;
  /** Our verdict: a vt episode overlaps the window. */
  alarm: boolean;
  beats: number;
  vBeats: number;
  /** vt episodes in the window, [start, end] s from the record start. */
  vtEpisodes: [number, number | null][];
}

export async function readAlarmLabels(dir: string): Promise<Map<string, boolean>> {
  const text = await readFile(join(dir, 'alarms.csv'), 'utf8');
  const out = new Map<string, boolean>();
  for (const line of text.split(/\r?\n/).slice(1)) {
    const [name, label] = line.split(',').map((s) => s.trim());
    if (!name) continue;
    if (label !== '0' && label !== '1') throw new Error(`alarms.csv: record ${name} has label ${label} (expected 0 or 1)`);
    out.set(name, label === '1');
  }
  return out;
}

/** Replays one alarm record up to the alarm and decides it. */
export function evaluateAlarm(name: string, record: WfdbRecord, truth: boolean, detectors: Detector[]): AlarmResult {
  const stream = new PatientStream(`cinc2015-${name}`, `cinc2015-${name}`, detectors);
  let beats = 0;
  let vBeats = 0;
  const open = new Map<number, [number, number | null]>();
  const frames = [...ecgOnlyFrames(record)].filter((f) => f.ts + f.durMs <= EVAL_EPOCH_MS + ALARM_AT_MS);
  for (const f of derivedFrames(frames)) {
    beats += f.beats.length;
    vBeats += f.beats.filter((b) => b.cls === 'V').length;
    for (const c of stream.detect(f)) {
      if (c.kind !== 'vt') continue;
      const onset = (c.onsetMs - EVAL_EPOCH_MS) / 1000;
      open.set(c.onsetMs, [onset, c.type === 'end' ? (c.endMs - EVAL_EPOCH_MS) / 1000 : null]);
    }
  }
  const from = (ALARM_AT_MS - ALARM_WINDOW_MS) / 1000;
  const vtEpisodes = [...open.values()].filter(([s, e]) => s <= ALARM_AT_MS / 1000 && (e === null || e >= from));
  return { name, truth, alarm: vtEpisodes.length > 0, beats, vBeats, vtEpisodes };
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

/** Every record of a Challenge 2015 folder that alarms.csv labels (only `.hea`/`.mat` + alarms.csv needed). */
export async function evaluateChallenge2015(dir: string, makeDetectors: () => Detector[], only?: readonly string[]): Promise<AlarmResult[]> {
  const labels = await readAlarmLabels(dir);
  const out: AlarmResult[] = [];
  for (const [name, truth] of labels) {
    if (only && !only.includes(name)) continue;
    const record = await readWfdbRecord(join(dir, name), { ecgSignalIndex: 0 });
    out.push(evaluateAlarm(name, record, truth, makeDetectors()));
  }
  return out;
}
