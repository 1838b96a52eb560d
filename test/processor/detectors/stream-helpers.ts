/**
 * Helpers for detector tests: beats at chosen times → contiguous 1 s frames → a PatientStream
 * with the detectors under test, exactly as the processor feeds them.
 */
import type { Alert } from '../../../contracts/alert.ts';
import type { BeatClass, TelemetryFrame } from '../../../contracts/telemetry.ts';
import type { Detector } from '../../../processor/detectors/detector.ts';
import { PatientStream } from '../../../processor/patient-stream.ts';

export const T0 = Date.parse('2026-11-25T10:00:00.000Z');

/** A beat `t` ms after T0 (class N unless given). */
export interface TestBeat {
  t: number;
  cls?: BeatClass;
}

/** Device time `ms` after T0 as the ISO string alerts carry. */
export const at = (ms: number) => new Date(T0 + ms).toISOString();

/** n beats every rrMs, the first at fromMs. */
export const regular = (fromMs: number, rrMs: number, n: number, cls: BeatClass = 'N'): TestBeat[] =>
  Array.from({ length: n }, (_, i) => ({ t: fromMs + i * rrMs, cls }));

/** Beats following each other by the given RR intervals, the first one rr[0] after `afterMs`. */
export function byIntervals(afterMs: number, rrMs: readonly number[], cls: BeatClass = 'N'): TestBeat[] {
  let t = afterMs;
  return rrMs.map((rr) => ({ t: (t += rr), cls }));
}

/** The time of the last beat. */
export const lastT = (beats: readonly TestBeat[]) => beats.at(-1)!.t;

/** Contiguous 1 s frames covering [0, untilMs), rr from the previous beat (0 for the first). */
export function framesFor(beats: readonly TestBeat[], untilMs: number): TelemetryFrame[] {
  const sorted = [...beats].sort((a, b) => a.t - b.t);
  const frames: TelemetryFrame[] = [];
  let prev: number | undefined;
  let i = 0;
  for (let start = 0, seq = 0; start < untilMs; start += 1000, seq++) {
    const out: TelemetryFrame['beats'] = [];
    while (i < sorted.length && sorted[i]!.t < start + 1000) {
      const b = sorted[i++]!;
      out.push({ off: b.t - start, rr: prev === undefined ? 0 : b.t - prev, cls: b.cls ?? 'N' });
      prev = b.t;
    }
    frames.push({ seq, ts: T0 + start, durMs: 1000, hr: 0, battery: 80, leadOff: false, beats: out });
  }
  return frames;
}

export interface RunOptions {
  /** Frame indexes (seconds) sent with leadOff set. */
  leadOffFrames?: readonly number[];
  /** Frame indexes (seconds) that never arrive. */
  lostFrames?: readonly number[];
}

/** Every alert snapshot the stream publishes for these beats; `detectedAt` is the end of the frame that raised it. */
export function run(detectors: Detector[], beats: readonly TestBeat[], untilMs: number, options: RunOptions = {}): Alert[] {
  const stream = new PatientStream('p1', 'd1', detectors);
  const frames = framesFor(beats, untilMs)
    .map((f, i) => (options.leadOffFrames?.includes(i) ? { ...f, leadOff: true, beats: [] } : f))
    .filter((_, i) => !options.lostFrames?.includes(i));
  return frames.flatMap((f) => stream.analyse(f, new Date(f.ts + f.durMs).toISOString()));
}

/** The lifecycle-relevant fields of snapshots, for whole-output assertions. */
export const episodes = (alerts: readonly Alert[]) => alerts.map((a) => ({ kind: a.kind, onset: a.onset, end: a.end ?? null, revision: a.revision }));
