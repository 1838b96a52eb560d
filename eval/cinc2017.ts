/**
 * PhysioNet/CinC Challenge 2017 (Clifford et al., "AF classification from a short single lead
 * ECG recording", CinC 2017, doi:10.22489/CinC.2017.065-469): reads a folder of `.hea`/`.mat`
 * strips with `REFERENCE.csv`, classifies each strip with the AF detector's own measures
 * (afib.ts `assessAfStrip`), and scores it as the Challenge did: per-class F1 = 2·T / (row sum +
 * column sum) of the 4×4 confusion matrix (N, A, O, ~).
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { AFIB_DEFAULTS, decideAfStrip, measureAfStrip, type AfibParams, type AfStripAssessment, type AfStripMeasures } from '../processor/detectors/afib.ts';
import { readWfdbHeader } from '../device-sim/wfdb-header.ts';
import { adcToMicrovolts, readWfdbSignals } from '../device-sim/wfdb-signal.ts';
import type { BeatClass } from '../contracts/telemetry.ts';
import { QrsDetector } from '../processor/detectors/qrs-detector.ts';
import { fileExists } from './records.ts';

export const CINC2017_CLASSES = ['N', 'A', 'O', '~'] as const;
export type Cinc2017Class = (typeof CINC2017_CLASSES)[number];

export interface Cinc2017Strip {
  name: string;
  label: Cinc2017Class;
  fsHz: number;
  uV: Int16Array;
  /** R peaks (ms from the strip start) and classes, from the processor's QRS detector. */
  beats: { timeMs: number; cls: BeatClass }[];
}

/**
 * Beats of a strip from the processor's streaming QRS detector (the code that gives ECG-only
 * devices their beats); one second of flat line after the strip lets it finalise the last beats.
 */
export function detectBeats(uV: ArrayLike<number>, fsHz: number): { timeMs: number; cls: BeatClass }[] {
  const detector = new QrsDetector(fsHz);
  const found = detector.push(uV);
  detector.push(new Float64Array(Math.round(fsHz)), found);
  // Beat times as the processor's beat source hands them on (ecg-beats.ts): between samples
  // (QrsBeat.offset), in whole ms (a beat's `off` on the wire). The CV rows move by a strip or two
  // with such sub-sample details (EVALUATION.md §2b, session 21).
  return found.filter((b) => b.sample < uV.length).map((b) => ({ timeMs: Math.round(((b.sample + b.offset) * 1000) / fsHz), cls: b.cls }));
}

/**
 * Reads every strip listed in REFERENCE.csv whose `.hea` is in the folder (R peaks found once
 * here). A folder may hold a subset of the Challenge's strips with its full REFERENCE.csv: the
 * listed strips that are not there are skipped, with a count on stderr.
 */
export async function loadCinc2017(dir: string, only?: readonly string[]): Promise<Cinc2017Strip[]> {
  const reference = await readFile(join(dir, 'REFERENCE.csv'), 'utf8');
  const strips: Cinc2017Strip[] = [];
  let absent = 0;
  const lines = reference.split(/\r?\n/).map((l) => l.trim()).filter((l) => l !== '');
  for (const [i, line] of lines.entries()) {
    const [name, label] = line.split(',').map((f) => f.trim());
    if (!name || !label) continue;
    if (!(CINC2017_CLASSES as readonly string[]).includes(label)) {
      if (i === 0) continue; // a header line (the Challenge's file has none)
      throw new Error(`${dir}/REFERENCE.csv: unknown label ${label} for ${name}`);
    }
    if (only && !only.includes(name)) continue;
    if (!(await fileExists(join(dir, `${name}.hea`)))) { absent++; continue; }
    const header = await readWfdbHeader(join(dir, `${name}.hea`));
    const [signal] = await readWfdbSignals(header, dir, { signalIndexes: [0], verifyChecksums: false });
    const uV = adcToMicrovolts(signal!);
    const fsHz = header.fsHz;
    strips.push({ name, label: label as Cinc2017Class, fsHz, uV, beats: detectBeats(uV, fsHz) });
  }
  if (absent > 0) process.stderr.write(`  cinc2017: ${absent} strips listed in REFERENCE.csv have no .hea in ${dir}: skipped\n`);
  return strips;
}

export interface StripResult extends AfStripAssessment {
  name: string;
  label: Cinc2017Class;
  predicted: Cinc2017Class;
}

/**
 * The strip's class: A when the AF decision says so; N when the rhythm is regular by the
 * paper's η, the rate is 50–100 bpm and, with ECG, the P wave is not measured absent (sinus
 * rhythm has the same P wave before each QRS: a P-wave coherence below the AF decision's own
 * `pWaveCoherenceMax` makes a regular strip O — junctional, flutter, a wide-complex rhythm — as
 * it makes an irregular one A; a strip with too few usable beats to measure it, or RR only, is
 * decided by the RR rule); otherwise O. Noise (~) is never predicted.
 */
export function classifyStrip(strip: Cinc2017Strip, useEcg: boolean, params: Partial<AfibParams> = {}): StripResult {
  return classifyMeasured(strip, measureStrip(strip, useEcg, params), params);
}

/** The strip's measures (afib.ts `measureAfStrip`), to be decided under several settings. */
export function measureStrip(strip: Cinc2017Strip, useEcg: boolean, params: Partial<AfibParams> = {}): AfStripMeasures {
  return measureAfStrip(strip.beats, useEcg ? { fsHz: strip.fsHz, uV: strip.uV } : undefined, params);
}

/** {@link classifyStrip} on measures taken once (the decision is what the settings change). */
export function classifyMeasured(strip: Cinc2017Strip, measures: AfStripMeasures, params: Partial<AfibParams> = {}): StripResult {
  const a = decideAfStrip(measures, params);
  const eta = params.irregularityThreshold ?? AFIB_DEFAULTS.irregularityThreshold;
  let predicted: Cinc2017Class = 'O';
  if (a.af) predicted = 'A';
  else if (a.stretchScore <= eta && a.hrBpm >= 50 && a.hrBpm <= 100 && !pWaveMeasuredAbsent(a, params)) predicted = 'N';
  return { name: strip.name, label: strip.label, predicted, ...a };
}

/** The P-wave coherence was measured (enough usable beats, ECG) and is below the AF decision's limit. */
function pWaveMeasuredAbsent(a: AfStripAssessment, params: Partial<AfibParams>): boolean {
  const limit = params.pWaveCoherenceMax ?? AFIB_DEFAULTS.pWaveCoherenceMax;
  return Number.isFinite(a.pWaveCoherence) && a.pWaveCoherence < limit;
}

export interface Cinc2017Score {
  /** confusion[reference][predicted] */
  confusion: Record<Cinc2017Class, Record<Cinc2017Class, number>>;
  f1: Record<Cinc2017Class, number>;
  /** The Challenge's final score: mean of F1 for N, A and O. */
  f1NAO: number;
  /** AF as a detection task: Se = TP/(TP+FN), +P = TP/(TP+FP). */
  afSe: number;
  afPp: number;
}

export function scoreCinc2017(results: readonly { label: Cinc2017Class; predicted: Cinc2017Class }[]): Cinc2017Score {
  const confusion = Object.fromEntries(CINC2017_CLASSES.map((r) => [r, Object.fromEntries(CINC2017_CLASSES.map((c) => [c, 0]))])) as Cinc2017Score['confusion'];
  for (const r of results) confusion[r.label][r.predicted]++;
  const f1 = Object.fromEntries(CINC2017_CLASSES.map((k) => {
    const row = CINC2017_CLASSES.reduce((s, c) => s + confusion[k][c], 0);
    const col = CINC2017_CLASSES.reduce((s, r) => s + confusion[r][k], 0);
    return [k, row + col > 0 ? (2 * confusion[k][k]) / (row + col) : Number.NaN];
  })) as Record<Cinc2017Class, number>;
  const tp = confusion.A.A;
  const fn = CINC2017_CLASSES.reduce((s, c) => s + confusion.A[c], 0) - tp;
  const fp = CINC2017_CLASSES.reduce((s, r) => s + confusion[r].A, 0) - tp;
  return { confusion, f1, f1NAO: (f1.N + f1.A + f1.O) / 3, afSe: (100 * tp) / (tp + fn), afPp: tp + fp > 0 ? (100 * tp) / (tp + fp) : Number.NaN };
}
