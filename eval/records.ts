/**
 * Loads the annotated PhysioNet records of ../shared/data/ecg for the evaluation: reference
 * beats (time, AAMI class) and reference rhythm episodes. Uses the project's WFDB readers
 * (device-sim/wfdb-header.ts, device-sim/wfdb-annotations.ts); nothing here parses WFDB itself.
 *
 * Where the beats come from (data README): mitdb `.atr` (expert, audited), nsr2db `.ecg`
 * (expert), afdb `.qrs` (PhysioNet's automated detector, not audited; `.atr` there holds rhythm
 * annotations only).
 */
import { access, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { BeatClass } from '../contracts/telemetry.ts';
import { isBeatCode, readWfdbAnnotations, type WfdbAnnotation } from '../device-sim/wfdb-annotations.ts';
import { readWfdbHeader } from '../device-sim/wfdb-header.ts';
import { aamiClass } from './aami.ts';

/** Databases the harness evaluates, in report order. */
export const EVAL_DATABASES = ['mitdb', 'nsr2db', 'afdb'] as const;
export type EvalDatabase = (typeof EVAL_DATABASES)[number];

export interface ReferenceBeat {
  /** R-peak time in ms from the start of the record. */
  timeMs: number;
  cls: BeatClass;
  /** The original annotation symbol (N, V, A, …). */
  symbol: string;
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
  /** Consecutive rhythm stretches covering the record from its first rhythm annotation to its end. */
  rhythms: RhythmEpisode[];
  /** Which annotation file the beats came from (`atr`, `qrs`, `ecg`). */
  beatSource: string;
}

const exists = async (path: string) => access(path).then(() => true, () => false);

/** Sample number → ms, rounded to the millisecond (the frame contract's resolution). */
const toMs = (sample: number, fsHz: number) => Math.round((sample * 1000) / fsHz);

/**
 * Rhythm stretches from rhythm-change annotations (type `+`, aux `(N`, `(AFIB`, …): each lasts
 * until the next change or the end of the record, as WFDB `epicmp` reads them.
 */
export function rhythmEpisodes(annotations: WfdbAnnotation[], fsHz: number, durationMs: number): RhythmEpisode[] {
  const changes = annotations
    .filter((a) => a.symbol === '+' && a.aux !== undefined && a.aux.startsWith('('))
    .map((a) => ({ rhythm: a.aux!, atMs: toMs(a.sample, fsHz) }));
  return changes.map((c, i) => ({ rhythm: c.rhythm, startMs: c.atMs, endMs: changes[i + 1]?.atMs ?? Math.max(durationMs, c.atMs) }));
}

/**
 * Loads one record.
 * @param dir database folder, e.g. `…/ecg/afdb`
 * @param name record name, e.g. `04015`
 */
export async function loadRecord(database: EvalDatabase, dir: string, name: string): Promise<ReferenceRecord> {
  const header = await readWfdbHeader(join(dir, `${name}.hea`));
  const atrPath = join(dir, `${name}.atr`);
  const atr = (await exists(atrPath)) ? await readWfdbAnnotations(atrPath) : [];
  let beatAnnotations = atr.filter((a) => isBeatCode(a.code));
  let beatSource = 'atr';
  // afdb: beats only in the automated `.qrs`; nsr2db: the beat file is `.ecg`.
  for (const ext of ['qrs', 'ecg']) {
    if (beatAnnotations.length > 0) break;
    const path = join(dir, `${name}.${ext}`);
    if (await exists(path)) {
      beatAnnotations = (await readWfdbAnnotations(path)).filter((a) => isBeatCode(a.code));
      beatSource = ext;
    }
  }
  const beats = beatAnnotations.map((a) => ({ timeMs: toMs(a.sample, header.fsHz), cls: aamiClass(a.symbol), symbol: a.symbol }));
  const lastAnnotationMs = Math.max(beats.at(-1)?.timeMs ?? 0, ...atr.map((a) => toMs(a.sample, header.fsHz)));
  const durationMs = header.sampleCount > 0 ? toMs(header.sampleCount, header.fsHz) : lastAnnotationMs + 1;
  return { database, name, fsHz: header.fsHz, durationMs, beats, rhythms: rhythmEpisodes(atr, header.fsHz, durationMs), beatSource };
}

/** Record names of one database folder (every `.hea`), sorted. */
export async function listRecords(dir: string): Promise<string[]> {
  const files = await readdir(dir);
  return files.filter((f) => f.endsWith('.hea')).map((f) => f.slice(0, -4)).sort();
}
