/**
 * The detector interface. Detectors see one patient-device stream in device time: every beat,
 * and the passage of time at each frame end. They decide episode onsets and ends; the processor
 * turns those into alerts. Detectors are pure state machines (no I/O, no wall clock) so the same
 * code runs in production, in tests and in the evaluation harness.
 */
import type { AlertEvidence, AlertKind } from '../../contracts/alert.ts';
import type { BeatClass } from '../../contracts/telemetry.ts';

export interface BeatEvent {
  /** R-peak time, device time ms since epoch. */
  timeMs: number;
  /** Interval since the previous R-peak in ms; 0 = unknown (first beat or after a gap). */
  rrMs: number;
  cls: BeatClass;
}

export interface TimeEvent {
  /** Device time up to which the stream is complete (a frame's end), ms since epoch. */
  nowMs: number;
}

/** Raw ECG of one frame (device-protocol.md `ecg`), for detectors that use the waveform. */
export interface EcgChunk {
  /** Device time of the first sample, ms since epoch. */
  startMs: number;
  fsHz: number;
  /** Samples in microvolts, evenly spaced at fsHz. */
  uV: ArrayLike<number>;
  /** Indices of the samples where the device flagged a pacemaker pulse (JSON v1 `ecg.pace`), ascending. */
  pace?: readonly number[];
  /**
   * The stream's beats are derived from this ECG by the processor (an ECG-only device,
   * processor/ecg-beats.ts), not the device's firmware beats: checks of our own beat labels
   * against the waveform apply (vt.ts `similarityMin`).
   */
  beatsDerived?: boolean;
}

export type EpisodeChange =
  | { type: 'onset'; kind: AlertKind; onsetMs: number; evidence: AlertEvidence }
  | { type: 'end'; kind: AlertKind; onsetMs: number; endMs: number; evidence: AlertEvidence };

export interface Detector {
  readonly kind: AlertKind;
  onBeat(beat: BeatEvent): EpisodeChange[];
  onTime(time: TimeEvent): EpisodeChange[];
  /**
   * The data stream became unreliable or discontinuous: `lead_off` = the device reported its
   * electrodes off up to `atMs` (everything before is unreliable); `gap` = frames are missing
   * before `atMs` (the device may have measured fine, we just do not have it). Detectors forget
   * partial evidence so nothing is concluded across the hole. An open episode stays open.
   */
  onDiscontinuity(atMs: number, reason: 'lead_off' | 'gap'): EpisodeChange[];
  /**
   * Optional: the frame's ECG, delivered before the frame's beats (so a beat's preceding
   * waveform is already known when the beat arrives). Never called for lead-off frames.
   */
  onEcg?(chunk: EcgChunk): void;
  /**
   * Optional: an alert of this kind is already open and waits for this (fresh) detector to
   * report the condition again (after a restart or a criteria change). Runs that start before
   * `untilMs` (device time) are reported as soon as the basic criterion holds, without any alarm
   * delay: the delay is for raising an alarm, not for confirming one already raised. `sinceMs`:
   * the device time up to which the open alert was known to hold (the previous owner's position).
   */
  continueOpen?(untilMs: number, sinceMs: number): void;
  /**
   * Optional, for detectors whose alarm waits (an alarm delay running, or an end waiting for its
   * off-delay): what a fresh detector needs to raise or end the alarm at the same device time as
   * this one would, as JSON carrying its own version; undefined when nothing is pending. The processor keeps it in its changelog record
   * (stream-state.ts `pending`) and hands it to the detector that replaces this one.
   */
  pendingState?(context?: PendingContext): PendingState | undefined;
  /**
   * Optional: a fresh detector takes over a predecessor's {@link pendingState} (after a restart,
   * a partition move or a criteria change). The beats that follow continue from it: re-delivered
   * beats it already covers are not counted twice, and the pending alarm is dropped when the data
   * do not continue it. A state it cannot use (another version, incompatible criteria) is ignored.
   * Also given a {@link handoverState}, after the regular state of the same record.
   */
  resumePending?(state: PendingState): void;
  /**
   * Optional: at a graceful hand-over only (processor.ts `stop`), the detector's whole state, in a
   * format version of its own, so the successor goes on exactly. The record carries it as a second
   * entry of the kind, after the regular {@link pendingState} (stream-runtime.ts): a processor that
   * does not know the format ignores it and still finds the regular one (a rolling deploy mixes
   * versions). Taken up through {@link resumePending} only when the successor's first input follows
   * what this detector saw; otherwise the regular state stands (pending-run.ts `HeldHandover`).
   */
  handoverState?(): PendingState | undefined;
  /**
   * Optional: the evidence of this detector's open episode as it stands now (vt.ts: the run's beat
   * count, rate and length while it grows), with that episode's onset; undefined while none is
   * open. The alarm lifecycle publishes it in its evidence updates instead of what it counts from
   * the frames' beats (alarm-lifecycle.ts). Must not change the detector's state.
   */
  openEvidence?(): { onsetMs: number; evidence: AlertEvidence } | undefined;
  /**
   * Optional: this fresh detector (after a restart, a partition move or a criteria change) sees
   * the stream from device time `atMs` on; the one it replaces saw what came before. Called at
   * the first frame it gets, after {@link resumePending}.
   */
  dataResumedAt?(atMs: number): void;
  /**
   * Optional: at device time `nowMs` the stream shows a more specific condition that accounts for
   * missing QRS complexes (VF/VT seen in the waveform: vt.ts), so a silence of beats there is not
   * an asystole or pause. May apply this detector's pending evidence up to `nowMs`; the changes
   * that causes come with its next onBeat/onTime/onDiscontinuity.
   */
  explainsSilence?(nowMs: number): boolean;
  /** Optional: the stream's detectors (PatientStream hands them over whenever its set changes), for detectors that consult others. */
  useStreamDetectors?(detectors: readonly Detector[]): void;
}

/** What the processor knows when it asks for a detector's {@link Detector.pendingState}. */
export interface PendingContext {
  /**
   * Device time up to which the stream's input is known to hold no beat after the last one the
   * detectors were given. For a device whose beats come from its ECG it is ahead of the detectors'
   * data by the beat source's decision lag (ecg-beats.ts `quietUntilMs`, ≈ 0.5 s, up to 1.5 RR):
   * a silence that has begun is longer there than the detectors have seen.
   */
  quietUntilMs?: number;
  /**
   * The stream is being handed to another processor now (a graceful stop, processor.ts): its
   * record is written once more, and a detector may keep what its successor needs even where it
   * would keep nothing between batches (cost), e.g. the beat a short silence is counted from.
   */
  handover?: boolean;
}

/** A detector's pending alarm as JSON (see {@link Detector.pendingState}); `v` is its format version. */
export interface PendingState {
  readonly v: number;
  readonly [field: string]: unknown;
}
