/**
 * Detection state of one patient's stream from one device, on device time. Feeds beats and the
 * passage of time to every detector and reports their episode changes. The alarm lifecycle
 * (alarm-lifecycle.ts) turns those into alerts in the processor; {@link PatientStream.analyse}
 * keeps the plain one-alert-per-detector-episode view for the evaluation harness (eval/).
 */
import { raisedAlert, type Alert, type AlertEvidence, type AlertKind } from '../contracts/alert.ts';
import type { TelemetryFrame } from '../contracts/telemetry.ts';
import type { Detector, EcgChunk, EpisodeChange } from './detectors/detector.ts';

/** A frame starting later than this after the previous frame's end is a hole in the data. */
export const CONTINUITY_TOLERANCE_MS = 50;

/** The detectors' view of a frame's ECG starting at `ts`: its samples and the device's pacer-pulse flags. */
export function ecgChunkOf(ts: number, ecg: NonNullable<TelemetryFrame['ecg']>): EcgChunk {
  return { startMs: ts, fsHz: ecg.fs, uV: ecg.uV, ...(ecg.pace ? { pace: ecg.pace } : {}) };
}

export class PatientStream {
  readonly patientId: string;
  readonly deviceId: string;
  #detectors: Detector[];
  readonly #open = new Map<string, Alert>();
  /** End (device time) of the last frame fed to the detectors. */
  #lastFrameEndMs: number | undefined;
  /** {@link resumedDetectors}: the detectors are told where their data starts at the next frame. */
  #resumed = false;

  constructor(patientId: string, deviceId: string, detectors: Detector[]) {
    this.patientId = patientId;
    this.deviceId = deviceId;
    this.#detectors = detectors;
    this.#link();
  }

  /** Lets the detectors that consult others (silence.ts asks vt.ts) see the current set. */
  #link(): void {
    for (const d of this.#detectors) d.useStreamDetectors?.(this.#detectors);
  }

  /** Device time up to which this stream has been analysed. */
  get watermarkMs(): number | undefined {
    return this.#lastFrameEndMs;
  }

  /**
   * The detectors are fresh ones that take over a stream another processor analysed (a restart or
   * partition move): at the first frame they get they are told it starts their data
   * (Detector.dataResumedAt) — the first frame they get, which for an ECG-only device is the first
   * frame of beats the beat source hands out, not the first ECG frame it was given.
   */
  resumedDetectors(): void {
    this.#resumed = true;
  }

  /**
   * Continues from a known position (after a restart): the next frame is a hole unless it starts
   * where the stream left off.
   */
  resumeAt(lastFrameEndMs: number | undefined): void {
    this.#lastFrameEndMs = lastFrameEndMs;
  }

  /** The open episode's evidence of the detector of `kind`, as it stands now (Detector.openEvidence). */
  openEvidence(kind: AlertKind): { onsetMs: number; evidence: AlertEvidence } | undefined {
    for (const d of this.#detectors) {
      if (d.kind !== kind || !d.openEvidence) continue;
      const e = d.openEvidence();
      if (e) return e;
    }
    return undefined;
  }

  /** The current detectors. */
  get detectors(): readonly Detector[] {
    return this.#detectors;
  }

  /**
   * Replaces the detector set (per-patient criteria changed). Detectors start fresh: what they
   * learned is lost, which the lifecycle covers by waiting for a re-detection of open episodes.
   */
  replaceDetectors(detectors: Detector[]): void {
    this.#detectors = detectors;
    this.#link();
  }

  /**
   * Hands ECG to the detectors that use the waveform (AF: P-wave evidence). `detect` does this
   * for a frame's own `ecg`; a caller whose frames carry derived beats but not the raw samples
   * (processor/ecg-beats.ts in ECG mode lags the input and drops `ecg`) calls it with every input
   * frame's ECG, before analysing the derived frames. Samples must arrive in device-time order;
   * a hole restarts the waveform measures.
   */
  feedEcg(chunk: EcgChunk): void {
    for (const d of this.#detectors) d.onEcg?.(chunk);
  }

  /** Runs the detectors over one frame (in device-time order); returns their changes in order. */
  detect(frame: TelemetryFrame): EpisodeChange[] {
    const changes: EpisodeChange[] = [];
    const all = (f: (d: Detector) => EpisodeChange[]) => { for (const d of this.#detectors) changes.push(...f(d)); };
    const frameEndMs = frame.ts + frame.durMs;
    if (this.#resumed) {
      this.#resumed = false;
      for (const d of this.#detectors) d.dataResumedAt?.(frame.ts);
    }
    const hole = this.#lastFrameEndMs !== undefined && frame.ts > this.#lastFrameEndMs + CONTINUITY_TOLERANCE_MS;
    // A hole means we do not know what happened; lead-off data never produces a physiological
    // alarm (fhir-and-alarms.md §2.5). Either way, no conclusion spans it.
    if (hole) all((d) => d.onDiscontinuity(frame.ts, 'gap'));
    if (!frame.leadOff) {
      if (frame.ecg) this.feedEcg(ecgChunkOf(frame.ts, frame.ecg));
      for (const b of frame.beats) {
        const beat = { timeMs: frame.ts + b.off, rrMs: b.rr, cls: b.cls };
        all((d) => d.onTime({ nowMs: beat.timeMs }));
        all((d) => d.onBeat(beat));
      }
      all((d) => d.onTime({ nowMs: frameEndMs }));
    } else {
      all((d) => d.onDiscontinuity(frameEndMs, 'lead_off'));
    }
    this.#lastFrameEndMs = frameEndMs;
    return changes;
  }

  /**
   * Analyses one frame (in device-time order) and returns one alert snapshot per detector change:
   * an onset, then the same id with `end` (no lifecycle: no hysteresis, latching or updates).
   * `nowIso` is the wall-clock time used for detectedAt/updatedAt.
   */
  analyse(frame: TelemetryFrame, nowIso: string): Alert[] {
    return this.detect(frame).map((c) => this.#toAlert(c, nowIso));
  }

  #toAlert(change: EpisodeChange, nowIso: string): Alert {
    const raised = raisedAlert({ patientId: this.patientId, deviceId: this.deviceId, kind: change.kind, onsetMs: change.onsetMs, evidence: change.evidence, nowIso });
    if (change.type === 'onset') {
      this.#open.set(raised.id, raised);
      return raised;
    }
    const open = this.#open.get(raised.id);
    this.#open.delete(raised.id);
    // An end without a seen onset (e.g. a device-measured gap) still gets a full alert, revision 1.
    const base: Alert = open ?? { ...raised, revision: 0 };
    return { ...base, end: new Date(change.endMs).toISOString(), evidence: change.evidence, revision: base.revision + 1, updatedAt: nowIso };
  }
}
