/**
 * QRS detection from raw ECG, scored beat by beat against the reference beats (EC57 `bxb`
 * style): every record with a signal file is replayed as an ECG-only device (frames with ECG and
 * no beats, device-sim/frames.ts) through the production beat source (processor/ecg-beats.ts),
 * exactly as the processor runs it.
 */
import type { TelemetryFrame } from '../contracts/telemetry.ts';
import { buildFrames, recordEcgSource } from '../device-sim/frames.ts';
import { recordBeats, recordDurationMs } from '../device-sim/replay.ts';
import { missingEcgIntervals, type WfdbRecord } from '../device-sim/wfdb-record.ts';
import { detectThroughBeatSource, EcgBeatSource } from '../processor/ecg-beats.ts';
import type { AlertKind } from '../contracts/alert.ts';
import type { Detector } from '../processor/detectors/detector.ts';
import { PatientStream } from '../processor/patient-stream.ts';
import { bxb, BXB_MATCH_WINDOW_MS, type BxbBeat, type BxbCounts, type ExcludedInterval } from './bxb.ts';
import { EC57_LEARNING_MS, type ScoredEpisode } from './evaluate.ts';
import { EVAL_EPOCH_MS, EVAL_FRAME_MS } from './replay.ts';

/** ECG-only frames of a record (what an ECG-only device sends), sample 0 at EVAL_EPOCH_MS. */
export function ecgOnlyFrames(record: WfdbRecord, frameMs = EVAL_FRAME_MS): Iterable<TelemetryFrame> {
  if (!record.ecg) throw new Error(`record ${record.recordPath} has no ECG signal`);
  // Invalid ("no data") samples go out as lead-off frames, as a device sends them.
  return ecgSignalFrames(record.ecg.uV, record.ecg.fsHz, recordDurationMs(record), missingEcgIntervals(record.ecg, EVAL_EPOCH_MS), frameMs);
}

/** ECG-only frames of a signal in µV (sample 0 at EVAL_EPOCH_MS), lead-off over `leadOff`. */
export function ecgSignalFrames(uV: ArrayLike<number>, fsHz: number, durationMs: number, leadOff: ReturnType<typeof missingEcgIntervals> = [], frameMs = EVAL_FRAME_MS): Iterable<TelemetryFrame> {
  return buildFrames([], { t0Ms: EVAL_EPOCH_MS, durationMs, frameMs, battery: 100, leadOff, ecg: recordEcgSource(uV, fsHz, EVAL_EPOCH_MS) });
}

/** The frames PatientStream analyses for an ECG-only replay, through the production beat source. */
export function* derivedFrames(frames: Iterable<TelemetryFrame>, source = new EcgBeatSource()): Generator<TelemetryFrame> {
  for (const f of frames) yield* source.frames(f);
}

export interface QrsRecordResult {
  name: string;
  /** The lead scored (the header's description, e.g. MLII). */
  lead: string;
  fsHz: number;
  durationMs: number;
  referenceBeats: number;
  detectedBeats: number;
  /** EC57 / WFDB bxb: beats inside ventricular flutter/fibrillation episodes are not scored. */
  counts: BxbCounts;
  /** The same with nothing excluded but the learning period (equal to `counts` without VF episodes). */
  countsAll: BxbCounts;
  /** Ventricular flutter/fibrillation episodes left out of `counts`, ms from the record's start. */
  vfEpisodes: ExcludedInterval[];
  /** CPU time of the beat source (QRS detection + morphology) over the record, ms. */
  cpuMs: number;
}

/**
 * Detects the beats of a record's ECG and compares them with its reference beats (bxb).
 * @param vfEpisodes the reference's VF episodes (eval/bxb.ts `vfEpisodes`), not scored in `counts`
 */
export function evaluateQrsRecord(name: string, record: WfdbRecord, vfEpisodes: ExcludedInterval[] = []): QrsRecordResult {
  const frames = [...ecgOnlyFrames(record)];
  const detected: BxbBeat[] = [];
  const t0 = process.cpuUsage();
  for (const f of derivedFrames(frames)) for (const b of f.beats) detected.push({ timeMs: f.ts + b.off - EVAL_EPOCH_MS, cls: b.cls });
  const cpu = process.cpuUsage(t0);
  const reference = recordBeats(record, 0).map((b) => ({ timeMs: b.tMs, cls: b.cls }));
  return {
    name,
    lead: record.ecg?.description ?? '',
    fsHz: record.header.fsHz,
    durationMs: recordDurationMs(record),
    referenceBeats: reference.length,
    detectedBeats: detected.length,
    counts: bxb(reference, detected, EC57_LEARNING_MS, BXB_MATCH_WINDOW_MS, vfEpisodes),
    countsAll: bxb(reference, detected, EC57_LEARNING_MS),
    vfEpisodes,
    cpuMs: (cpu.user + cpu.system) / 1000,
  };
}

/**
 * The alarm episodes of a record's ECG replayed as an ECG-only device through the production
 * path: the beat source derives the beats and the ECG goes to the detectors as the processor
 * feeds it (processor/ecg-beats.ts `detectThroughBeatSource`, also called by
 * processor/stream-runtime.ts). Times in ms from the record start; an episode still open at the
 * end of the record ends there.
 */
export function replayEcgOnly(record: WfdbRecord, detectors: Detector[]): ScoredEpisode[] {
  return replayEcgFrames(record.header.recordName, ecgOnlyFrames(record), recordDurationMs(record), detectors);
}

/** {@link replayEcgOnly} of any ECG-only frames (`name` labels the stream). */
export function replayEcgFrames(name: string, frames: Iterable<TelemetryFrame>, durationMs: number, detectors: Detector[]): ScoredEpisode[] {
  const source = new EcgBeatSource();
  const stream = new PatientStream(`eval-ecg-${name}`, `eval-ecg-device-${name}`, detectors);
  const open = new Map<AlertKind, number>();
  const episodes: ScoredEpisode[] = [];
  for (const frame of frames) {
    for (const c of detectThroughBeatSource(source, stream, frame).changes) {
      if (c.type === 'onset') open.set(c.kind, c.onsetMs - EVAL_EPOCH_MS);
      else {
        episodes.push({ kind: c.kind, startMs: c.onsetMs - EVAL_EPOCH_MS, endMs: c.endMs - EVAL_EPOCH_MS });
        open.delete(c.kind);
      }
    }
  }
  for (const [kind, startMs] of open) episodes.push({ kind, startMs, endMs: durationMs });
  return episodes.sort((a, b) => a.startMs - b.startMs || a.kind.localeCompare(b.kind));
}
