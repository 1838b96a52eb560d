/**
 * Loads a whole WFDB record the way the replay needs it: header, beat annotations, rhythm
 * annotations and (when the signal file is there) one ECG lead in microvolts.
 *
 * Beats come from the first annotation file that holds beats, in the order `.atr`, `.qrs`,
 * `.ecg` (product.md "Simulator": the AF database's `.atr` holds only rhythm annotations and
 * its beats are in `.qrs`; the NSR RR database ships its beats as `.ecg`). A record with a
 * signal file and no beat annotations (CinC 2015/2017 `.mat`) is ECG-only: no beats.
 */
import { access } from 'node:fs/promises';
import path from 'node:path';
import { PulsebridgeError } from '../platform/errors.ts';
import type { DeviceTimeInterval } from './frames.ts';
import { isBeatCode, readWfdbAnnotations, type WfdbAnnotation } from './wfdb-annotations.ts';
import { readWfdbHeader, type WfdbHeader } from './wfdb-header.ts';
import { adcToMicrovolts, missingRuns, readWfdbSignals, type MissingRun } from './wfdb-signal.ts';

/** Annotation file extensions searched for beats, in order. */
export const BEAT_ANNOTATORS = ['atr', 'qrs', 'ecg'] as const;
/** WFDB annotation code for a rhythm change (`+`, aux holds the rhythm). */
const RHYTHM_CODE = 28;

/** One ECG lead of a record, calibrated. */
export interface WfdbEcgLead {
  signalIndex: number;
  /** Lead name from the header, e.g. `MLII`. */
  description: string;
  fsHz: number;
  /** Samples in µV; invalid samples are 0 (see `missing`). */
  uV: Int16Array;
  /** Runs of samples the record marks invalid ("no data"): replayed as lead-off frames. */
  missing: MissingRun[];
}

/** A record ready for replay. */
export interface WfdbRecord {
  /** Record path without extension, as given. */
  recordPath: string;
  header: WfdbHeader;
  /** Annotation file the beats were read from; empty for an ECG-only record. */
  beatAnnotationPath: string;
  /** Beat annotations only (WFDB `isqrs`), in time order. */
  beats: WfdbAnnotation[];
  /** Rhythm-change annotations (`+` with aux such as `(AFIB`) from `.atr`, if any. */
  rhythm: WfdbAnnotation[];
  /** The chosen ECG lead, when the header lists signals and their file exists. */
  ecg: WfdbEcgLead | undefined;
  /** Record length in samples: the header's count, or one past the last annotation when it gives none. */
  lengthSamples: number;
}

/** Options for {@link readWfdbRecord}. */
export interface ReadWfdbRecordOptions {
  /** Index of the signal to use as the ECG lead (default 0, which is MLII in the MIT-BIH Arrhythmia Database). */
  ecgSignalIndex?: number;
  /** Load the ECG signal when present (default true). */
  loadEcg?: boolean;
}

const exists = (p: string): Promise<boolean> => access(p).then(() => true, () => false);

/** Accepts `…/100`, `…/100.hea` or `…/100.` and returns `…/100`. */
export function stripRecordExtension(recordPath: string): string {
  return recordPath.replace(/\.(hea)?$/, '');
}

/**
 * Reads header, annotations and ECG of a record.
 * @param recordPath path of the record without extension (`…/mitdb/100`); a trailing `.hea` is accepted
 * @throws PulsebridgeError `PB_WFDB_INVALID` when the header is missing, or no annotation file holds beats and there is no signal file
 */
export async function readWfdbRecord(recordPath: string, options: ReadWfdbRecordOptions = {}): Promise<WfdbRecord> {
  const base = stripRecordExtension(recordPath);
  const headerPath = `${base}.hea`;
  if (!(await exists(headerPath))) {
    throw new PulsebridgeError('PB_WFDB_INVALID', `WFDB record ${base} has no header file ${headerPath}.`, { details: { source: headerPath } });
  }
  const header = await readWfdbHeader(headerPath);

  let rhythm: WfdbAnnotation[] = [];
  let beats: WfdbAnnotation[] | undefined;
  let beatAnnotationPath = '';
  for (const ext of BEAT_ANNOTATORS) {
    const p = `${base}.${ext}`;
    if (!(await exists(p))) continue;
    const all = await readWfdbAnnotations(p);
    if (ext === 'atr') rhythm = all.filter((a) => a.code === RHYTHM_CODE);
    const found = all.filter((a) => isBeatCode(a.code));
    if (found.length > 0 && beats === undefined) {
      beats = found;
      beatAnnotationPath = p;
    }
  }
  let ecg: WfdbEcgLead | undefined;
  const signalIndex = options.ecgSignalIndex ?? 0;
  const spec = header.signals[signalIndex];
  if (options.ecgSignalIndex !== undefined && spec === undefined) {
    throw new PulsebridgeError('PB_WFDB_INVALID', `WFDB record ${base} has no signal ${signalIndex}: its header lists ${header.signals.length} (${header.signals.map((s, i) => `${i} ${s.description || s.fileName}`).join(', ')}).`, { details: { source: base } });
  }
  const hasSignal = spec !== undefined && (await exists(path.join(path.dirname(base), spec.fileName)));
  if (beats === undefined) {
    // ECG-only records (CinC 2015 / 2017: `.hea` + `.mat`): the device sends ECG and no beats;
    // the processor detects them (processor/ecg-beats.ts).
    if (!hasSignal) {
      throw new PulsebridgeError('PB_WFDB_INVALID', `WFDB record ${base} has neither beat annotations in any of ${BEAT_ANNOTATORS.map((e) => `.${e}`).join(', ')} nor a signal file.`, { details: { source: base } });
    }
    beats = [];
  }
  if ((options.loadEcg ?? true) && hasSignal) {
    const [signal] = await readWfdbSignals(header, path.dirname(base), { signalIndexes: [signalIndex] });
    if (signal) ecg = { signalIndex, description: spec!.description, fsHz: header.fsHz, uV: adcToMicrovolts(signal), missing: missingRuns(signal) };
  }

  const lastAnnotation = Math.max(beats.at(-1)?.sample ?? 0, rhythm.at(-1)?.sample ?? 0);
  const lengthSamples = header.sampleCount > 0 ? header.sampleCount : (ecg?.uV.length || lastAnnotation + 1);
  return { recordPath: base, header, beatAnnotationPath, beats, rhythm, ecg, lengthSamples };
}

/**
 * The device-time intervals of a lead's invalid samples, for `buildFrames`' `leadOff`: a frame
 * holding any of them is sent with `leadOff` (its ECG is unreliable), as a device would.
 */
export function missingEcgIntervals(ecg: WfdbEcgLead, t0Ms: number): DeviceTimeInterval[] {
  const toMs = (sample: number): number => t0Ms + (sample * 1000) / ecg.fsHz;
  return ecg.missing.map((r) => ({ startMs: toMs(r.startSample), endMs: toMs(r.endSample) }));
}
