/**
 * Replays a reference record through the production detection path: the simulator's frame
 * builder (1 s frames, RR from consecutive beats, AAMI classes) → PatientStream → detectors →
 * alert snapshots, folded into episodes (one per alert id).
 */
import type { Alert, AlertKind } from '../contracts/alert.ts';
import type { TelemetryFrame } from '../contracts/telemetry.ts';
import type { Detector } from '../processor/detectors/detector.ts';
import { buildFrames } from '../device-sim/frames.ts';
import { PatientStream } from '../processor/patient-stream.ts';
import type { ReferenceRecord } from './records.ts';

/** Device time of every record's start: arbitrary, fixed so alert ids are reproducible. */
export const EVAL_EPOCH_MS = Date.parse('2026-01-01T00:00:00.000Z');
/** Frame window of the replay (device-protocol.md: 1 s frames). */
export const EVAL_FRAME_MS = 1000;

/** One detected episode, times in ms from the record start. */
export interface DetectedEpisode {
  kind: AlertKind;
  startMs: number;
  /** End as reported; the record end when the alert was still open then. */
  endMs: number;
  /** False when the alert was still open at the end of the record. */
  ended: boolean;
  /** Delay from onset to the frame end at which the alert was first raised, ms. */
  latencyMs: number;
  alert: Alert;
}

export interface ReplayResult {
  episodes: DetectedEpisode[];
  frames: number;
  beats: number;
}

/**
 * The record's beats as the 1 s telemetry frames a device would send (the simulator's frame
 * builder). Build once to replay one record under many detector settings (eval/af-loro.ts).
 */
export function recordFrames(record: ReferenceRecord): Iterable<TelemetryFrame> {
  const beats = record.beats.map((b) => ({ tMs: EVAL_EPOCH_MS + b.timeMs, cls: b.cls }));
  return buildFrames(beats, { t0Ms: EVAL_EPOCH_MS, durationMs: record.durationMs, frameMs: EVAL_FRAME_MS, battery: 100 });
}

/**
 * Runs one record through a fresh PatientStream built with `detectors`.
 * `detectedAt` of each alert is the device time of the frame that raised it, so latency is
 * measured on the record's own clock (replay speed does not matter).
 */
export function replayRecord(record: ReferenceRecord, detectors: Detector[], prebuilt?: readonly TelemetryFrame[]): ReplayResult {
  const stream = new PatientStream(`eval-${record.database}-${record.name}`, `eval-device-${record.name}`, detectors);
  const byId = new Map<string, Alert[]>();
  let frames = 0;
  for (const frame of prebuilt ?? recordFrames(record)) {
    frames++;
    const alerts = stream.analyse(frame, new Date(frame.ts + frame.durMs).toISOString());
    for (const a of alerts) {
      const list = byId.get(a.id);
      if (list) list.push(a);
      else byId.set(a.id, [a]);
    }
  }
  const episodes: DetectedEpisode[] = [];
  for (const snapshots of byId.values()) {
    const first = snapshots[0]!;
    const last = snapshots.at(-1)!;
    const startMs = Date.parse(first.onset) - EVAL_EPOCH_MS;
    const endMs = last.end !== undefined ? Date.parse(last.end) - EVAL_EPOCH_MS : record.durationMs;
    episodes.push({
      kind: first.kind,
      startMs,
      endMs,
      ended: last.end !== undefined,
      latencyMs: Date.parse(first.detectedAt) - EVAL_EPOCH_MS - startMs,
      alert: last,
    });
  }
  episodes.sort((a, b) => a.startMs - b.startMs || a.kind.localeCompare(b.kind));
  return { episodes, frames, beats: record.beats.length };
}
