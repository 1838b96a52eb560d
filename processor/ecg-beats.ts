/**
 * Beats for a device stream that carries ECG but no firmware beats (issue 12 item 3): ECG-only
 * devices, replayed CinC 2015/2017 records, or firmware whose beat output is missing.
 *
 * Sits in front of PatientStream: `frames(frame)` returns the frame(s) the detectors should see.
 * - Firmware mode (the frame has beats, or the device sent beats within the last
 *   {@link FIRMWARE_BEAT_MEMORY_MS}): the frame passes unchanged — firmware beats are trusted and
 *   a firmware-reported silence (asystole) is never overwritten by ECG-derived beats.
 * - ECG mode (no firmware beat for that long, or never, and the frame has `ecg`): the frame's
 *   samples go through the stream's {@link QrsDetector}; what comes out is a frame covering the
 *   device time in which the detector's beats are final ([previous watermark, new watermark)),
 *   with those beats (R-peak offset, RR, morphology class). It lags the input by about 0.5 s
 *   (more while a search-back is possible, bounded by 1.5 mean RR).
 * The QRS detector runs on every ECG frame, in both modes, so it is warmed up when it is needed.
 * Output frames never go back in device time (PatientStream and the detectors need order).
 * Lead-off, a hole in the frames or a change of sampling rate restarts the detector (its
 * 2 s learning period follows); lead-off frames pass through so the detectors see them.
 */
import type { Beat, TelemetryFrame } from '../contracts/telemetry.ts';
import type { EpisodeChange } from './detectors/detector.ts';
import type { PatientStream } from './patient-stream.ts';
import { QrsDetector, type QrsBeat, type QrsParams } from './detectors/qrs-detector.ts';

/** ECG-derived beats are used once the firmware has sent no beat for this long (device time), ms. */
export const FIRMWARE_BEAT_MEMORY_MS = 60_000;
/** A frame starting further than this from where the ECG left off restarts the detector, ms. */
const ECG_CONTINUITY_MS = 50;

export class EcgBeatSource {
  readonly #params: Partial<QrsParams>;
  #qrs: QrsDetector | undefined;
  /** Device time of sample 0 of the current detector run, ms. */
  #t0Ms = 0;
  /** Device time the ECG continues at. */
  #nextEcgMs: number | undefined;
  #lastFirmwareBeatMs = -Infinity;
  /** Device time up to which frames have been handed out. */
  #outUntilMs: number | undefined;
  #lastBeatMs: number | undefined;
  readonly #scratch: QrsBeat[] = [];
  /** Beats detected but not yet handed out (their time is not final yet in firmware mode). */
  #beats: { tMs: number; cls: Beat['cls'] }[] = [];

  constructor(params: Partial<QrsParams> = {}) {
    this.#params = params;
  }

  /** Whether the last frame was analysed with ECG-derived beats. */
  ecgMode = false;

  /** Frames to analyse for one incoming frame (in device-time order), zero or more. */
  frames(frame: TelemetryFrame): TelemetryFrame[] {
    const endMs = frame.ts + frame.durMs;
    if (frame.beats.length > 0) this.#lastFirmwareBeatMs = frame.ts + frame.beats.at(-1)!.off;
    const firmware = frame.beats.length > 0 || endMs - this.#lastFirmwareBeatMs < FIRMWARE_BEAT_MEMORY_MS;
    this.#feedEcg(frame);
    if (firmware || !frame.ecg || frame.leadOff) {
      this.ecgMode = false;
      this.#beats = [];
      // The derived beats up to here are superseded by this frame.
      this.#lastBeatMs = undefined;
      if (this.#outUntilMs !== undefined && frame.ts < this.#outUntilMs) {
        // Cannot happen for ordered input; keep the detectors' time monotone anyway.
        if (endMs <= this.#outUntilMs) return [];
      }
      this.#outUntilMs = endMs;
      return [frame];
    }
    this.ecgMode = true;
    const watermarkMs = this.#qrs ? this.#t0Ms + (this.#qrs.finalBefore * 1000) / this.#qrs.fsHz : frame.ts;
    const fromMs = this.#outUntilMs ?? this.#t0Ms;
    const toMs = Math.floor(watermarkMs);
    if (toMs <= fromMs) return [];
    const beats: Beat[] = [];
    let k = 0;
    for (; k < this.#beats.length && this.#beats[k]!.tMs < toMs; k++) {
      const b = this.#beats[k]!;
      if (b.tMs < fromMs) continue;
      const rr = this.#lastBeatMs === undefined ? 0 : b.tMs - this.#lastBeatMs;
      beats.push({ off: b.tMs - fromMs, rr: rr > 0 && rr <= 0xffff ? rr : 0, cls: b.cls });
      this.#lastBeatMs = b.tMs;
    }
    this.#beats.splice(0, k);
    this.#outUntilMs = toMs;
    return [{ ...frame, ts: fromMs, durMs: toMs - fromMs, beats, hr: 0, ecg: undefined }];
  }

  #feedEcg(frame: TelemetryFrame): void {
    const ecg = frame.ecg;
    if (!ecg || frame.leadOff) {
      // No conclusion spans missing ECG or lead-off: the next ECG restarts the detector.
      this.#restart(undefined);
      return;
    }
    if (!this.#qrs || this.#qrs.fsHz !== ecg.fs || this.#nextEcgMs === undefined || Math.abs(frame.ts - this.#nextEcgMs) > ECG_CONTINUITY_MS) {
      this.#restart(new QrsDetector(ecg.fs, this.#params));
      this.#t0Ms = frame.ts;
      if (this.#outUntilMs === undefined || this.#outUntilMs < frame.ts) this.#outUntilMs = frame.ts;
    }
    const qrs = this.#qrs!;
    this.#scratch.length = 0;
    qrs.push(ecg.uV, this.#scratch);
    for (const b of this.#scratch) this.#beats.push({ tMs: Math.round(this.#t0Ms + (b.sample * 1000) / qrs.fsHz), cls: b.cls });
    // Re-anchor on the device clock: frames of a non-integer sample count must not drift.
    this.#nextEcgMs = frame.ts + frame.durMs;
    this.#t0Ms = this.#nextEcgMs - (qrs.samples * 1000) / qrs.fsHz;
  }

  #restart(qrs: QrsDetector | undefined): void {
    this.#qrs = qrs;
    this.#nextEcgMs = undefined;
    this.#beats = [];
    this.#lastBeatMs = undefined;
  }
}

/**
 * One input frame through the beat source into the stream's detectors — the one path the
 * processor (stream-runtime.ts) and the evaluation (eval/challenge2015.ts) share. In ECG mode the
 * derived frames carry no samples, so the input frame's ECG goes to the waveform detectors first
 * (it is ~0.5–1.4 s ahead of the derived beats; the detectors merge both on device time).
 */
export function detectThroughBeatSource(source: EcgBeatSource, stream: PatientStream, frame: TelemetryFrame): { frames: TelemetryFrame[]; changes: EpisodeChange[] } {
  const frames = source.frames(frame);
  if (source.ecgMode && frame.ecg && !frame.leadOff) stream.feedEcg({ startMs: frame.ts, fsHz: frame.ecg.fs, uV: frame.ecg.uV });
  if (frames.length === 1) return { frames, changes: stream.detect(frames[0]!) };
  const changes: EpisodeChange[] = [];
  for (const f of frames) changes.push(...stream.detect(f));
  return { frames, changes };
}
