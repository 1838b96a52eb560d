/**
 * Loads the annotated PhysioNet records of ../shared/data/ecg for the evaluation: reference
 * beats (time, AAMI class) and reference rhythm episodes. Reading WFDB files and mapping beat
 * symbols to AAMI classes is the simulator's (device-sim/wfdb-record.ts, device-sim/replay.ts,
 * device-sim/beat-classes.ts): the harness sees a record exactly as a replayed device sends it.
 *
 * Where the beats come from (data README): mitdb `.atr` (expert, audited), nsr2db `.ecg`
 * (expert), afdb `.qrs` (PhysioNet's automated detector, not audited; `.atr` there holds rhythm
 * annotations only).
 */
import { access, readdir } from 'node:fs/promises';
import { extname, join } from 'node:path';
import type { BeatClass } from '../contracts/telemetry.ts';
import { recordBeats, recordDurationMs } from '../device-sim/replay.ts';
import type { WfdbAnnotation } from '../device-sim/wfdb-annotations.ts';
import { readWfdbRecord } from '../device-sim/wfdb-record.ts';

/** Databases the harness evaluates, in report order. */
export const EVAL_DATABASES = ['mitdb', 'nsr2db', 'afdb'] as const;
export type EvalDatabase = (typeof EVAL_DATABASES)[number];

export interface ReferenceBeat {
  /** R-peak time in ms from the start of the record. */
  timeMs: number;
  cls: BeatClass;
}

/** A stretch of one reference rhythm, e.g. `(AFIB` from 3 534 000 ms to 3 798 000 ms. */
export interface RhythmEpisode {
  rhythm: string;
  startMs: number;
  endMs: number;
}

export interface ReferenceRecord {
  database: EvalDatabase;
  name: string;
  fsHz: number;
  /** Record length in ms (header sample count, or the last annotation when the header has none). */
  durationMs: number;
  beats: ReferenceBeat[];
  /** Consecutive rhythm stretches from the first rhythm annotation to the record end. */
  rhythms: RhythmEpisode[];
  /** Which annotation file the beats came from (`atr`, `qrs`, `ecg`). */
  beatSource: string;
}

/**
 * Rhythm stretches from rhythm-change annotations (type `+`, aux `(N`, `(AFIB`, …): each lasts
 * until the next change or the end of the record, as WFDB `epicmp` reads them.
 */
export function rhythmEpisodes(annotations: readonly WfdbAnnotation[], fsHz: number, durationMs: number): RhythmEpisode[] {
  const changes = annotations
    .filter((a) => a.symbol === '+' && a.aux !== undefined && a.aux.startsWith('('))
    .map((a) => ({ rhythm: a.aux!, atMs: Math.round((a.sample * 1000) / fsHz) }));
  return changes.map((c, i) => ({ rhythm: c.rhythm, startMs: c.atMs, endMs: changes[i + 1]?.atMs ?? Math.max(durationMs, c.atMs) }));
}

/**
 * Loads one record (annotations only; the ECG signal is not needed).
 * @param dir database folder, e.g. `…/ecg/afdb`
 * @param name record name, e.g. `04015`
 */
export async function loadRecord(database: EvalDatabase, dir: string, name: string): Promise<ReferenceRecord> {
  const record = await readWfdbRecord(join(dir, name), { loadEcg: false });
  const durationMs = recordDurationMs(record);
  return {
    database,
    name,
    fsHz: record.header.fsHz,
    durationMs,
    beats: recordBeats(record, 0).map((b) => ({ timeMs: b.tMs, cls: b.cls })),
    rhythms: rhythmEpisodes(record.rhythm, record.header.fsHz, durationMs),
    beatSource: extname(record.beatAnnotationPath).slice(1),
  };
}

/** Record names of one database folder (every `.hea`), sorted. */
export async function listRecords(dir: string): Promise<string[]> {
  const files = await readdir(dir);
  return files.filter((f) => f.endsWith('.hea')).map((f) => f.slice(0, -4)).sort();
}

/** Whether `path` can be read (a folder may hold a subset of the records its label file lists). */
export async function fileExists(path: string): Promise<boolean> {
  try {
    await access(path);
    return true;
  } catch {
    return false;
  }
}
