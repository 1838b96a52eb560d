/**
 * Everything the processor keeps for one patient-device stream: event-time reordering, the
 * detectors and technical monitors built from the patient's criteria in force, and the alarm
 * lifecycle. Pure and synchronous (device time in, alert snapshots out); the wall-clock duties
 * (signal loss, escalation timers) and all I/O are the processor's.
 */
import type { Alert, AlertEvidence, AlertKind } from '../contracts/alert.ts';
import { TECHNICAL_KINDS } from '../contracts/alert.ts';
import type { AlarmCriteria, CriteriaVersion } from '../contracts/criteria.ts';
import type { EcgStrip } from '../contracts/ecg-strip.ts';
import type { TelemetryFrame } from '../contracts/telemetry.ts';
import { LIFECYCLE_DEFAULTS, StreamAlarms, type LifecycleConfig } from './alarm-lifecycle.ts';
import { ClockBehindMonitor } from './clock-behind.ts';
import { changedKinds, detectorsForCriteria, monitorsForCriteria } from './detector-set.ts';
import { EcgStripRecorder, raisedPhysiological, type EcgStripOptions } from './ecg-strips.ts';
import type { Detector, EpisodeChange, PendingContext } from './detectors/detector.ts';
import { detectThroughBeatSource, EcgBeatSource, type FirmwareOutage } from './ecg-beats.ts';
import { CONTINUITY_TOLERANCE_MS, PatientStream } from './patient-stream.ts';
import { ReorderBuffer, type ReorderOptions } from './reorder-buffer.ts';
import { STATE_SCHEMA, type StreamStateRecord } from './stream-state.ts';
import { NoRhythmMonitor, type FrameMonitor } from './technical.ts';

/** Builds the physiological detectors of a patient for given criteria. */
export type DetectorFactory = (patientId: string, criteria: AlarmCriteria) => Detector[];

export interface StreamRuntimeOptions {
  patientId: string;
  deviceId: string;
  /** Criteria version that applies to a frame starting at `tsMs` (device time). */
  criteriaAt: (tsMs: number) => CriteriaVersion;
  /**
   * Device time of the care team's latest relearn at or before `tsMs` (contracts/criteria.ts
   * `latestRelearnAt`; -Infinity: none). Default: never.
   */
  relearnAt?: (tsMs: number) => number;
  detectors?: DetectorFactory;
  lifecycle?: LifecycleConfig;
  reorder?: ReorderOptions;
  /** ECG strip windows (defaults: contracts/ecg-strip.ts); `false`: capture none. */
  ecgStrips?: EcgStripOptions | false;
}

export interface IngestResult {
  /** The frame came after newer data was analysed: store it, it was not analysed. */
  late: boolean;
  /** The frame had been analysed before a restart: re-analysed for detector state only. */
  replayed: boolean;
  alerts: Alert[];
  /** ECG strips whose post-onset window this frame completed (contracts/ecg-strip.ts). */
  strips: EcgStrip[];
  /**
   * Frames of beats detected in the ECG (device without firmware beats) that became final, for
   * the vitals store (their beats and RR like a firmware frame's) and the board's live heart
   * rate — also those without a beat, which tell the board how long the heart has been silent.
   */
  ecgBeatFrames: TelemetryFrame[];
  /** Derived beats dropped because they were found after their device time was handed out (ecg-beats.ts; should be 0). */
  droppedLateBeats: number;
  /**
   * The firmware's beat output failing while its ECG shows the patient's QRS complexes (ecg-beats.ts
   * FIRMWARE_OUTAGE_BEATS): the stream switched to beats from its ECG inside the firmware's silence.
   */
  firmwareOutages: FirmwareOutage[];
}

const NO_STRIPS: EcgStrip[] = Object.freeze([]) as unknown as EcgStrip[];

const SIGNAL_LOSS_SOURCE = 'issue 4: a streaming device silent for 10 s (configurable 5–60 s)';

export class StreamRuntime {
  readonly patientId: string;
  readonly deviceId: string;
  readonly #o: StreamRuntimeOptions;
  readonly #detectorFactory: DetectorFactory;
  readonly #stream: PatientStream;
  /** Beats for the detectors: the firmware's, or detected in the ECG when the device sends none. */
  readonly #beats = new EcgBeatSource();
  /** ECG-derived beat frames not yet handed out by {@link ingest}. */
  #ecgBeatFrames: TelemetryFrame[] = [];
  #reorder: ReorderBuffer;
  #alarms: StreamAlarms;
  #monitors: FrameMonitor[];
  #criteria: CriteriaVersion | undefined;
  /** After a restore: frames ending at or before this were analysed by the previous owner. */
  #replayUntilMs: number | undefined;
  /**
   * After a restore with pending alarms: the first frame analysed must continue from here (the
   * previous owner's position), otherwise the hole is a discontinuity, as it was for that owner.
   */
  #continueFromMs: number | undefined;
  /** End (device time) of the last frame analysed or re-analysed. */
  #inputUntilMs: number | undefined;
  /** Telemetry partition of the stream's latest frame. */
  partition: number | undefined;
  /** Created at the first frame with ECG: a stream without ECG keeps nothing for strips. */
  #ecg: EcgStripRecorder | undefined;
  /** Strips completed since the caller last took them. */
  #strips: EcgStrip[] | undefined;
  /** New frames arriving behind the analysed data: the device clock stepped back (clock-behind.ts). */
  readonly #clock = new ClockBehindMonitor();
  /** The latest relearn this stream has applied, or found in force where it started (undefined before its first frame). */
  #relearnedAtMs: number | undefined;

  constructor(options: StreamRuntimeOptions) {
    this.#o = options;
    this.patientId = options.patientId;
    this.deviceId = options.deviceId;
    this.#detectorFactory = options.detectors ?? ((_p, c) => detectorsForCriteria(c));
    this.#stream = new PatientStream(options.patientId, options.deviceId, []);
    this.#reorder = new ReorderBuffer(options.reorder);
    this.#alarms = new StreamAlarms(options.patientId, options.deviceId, options.lifecycle ?? LIFECYCLE_DEFAULTS);
    this.#monitors = [];
  }

  /** Rebuilds a stream from its changelog record (see stream-state.ts). */
  static restore(options: StreamRuntimeOptions, record: StreamStateRecord): StreamRuntime {
    const rt = new StreamRuntime(options);
    rt.#reorder = ReorderBuffer.restore(record.reorder, options.reorder);
    rt.#alarms = StreamAlarms.restore(options.patientId, options.deviceId, record.alarms, options.lifecycle ?? LIFECYCLE_DEFAULTS);
    rt.#replayUntilMs = record.analysedUntilMs;
    // Fresh detectors: their data starts at the first frame they get, replayed or new (silence.ts).
    rt.#stream.resumedDetectors();
    if (record.partition !== undefined) rt.partition = record.partition;
    rt.#useCriteria(options.criteriaAt(record.analysedUntilMs ?? record.reorder.held[0]?.ts ?? 0));
    // The predecessor applied every relearn before its position (they apply at the first frame that ends after them).
    if (record.analysedUntilMs !== undefined) rt.#relearnedAtMs = options.relearnAt?.(record.analysedUntilMs - 1) ?? -Infinity;
    if (record.analysedUntilMs !== undefined) {
      rt.#alarms.awaitRedetection(record.analysedUntilMs);
      for (const e of rt.#alarms.openEpisodes()) rt.#continueOpen(e.kind, record.analysedUntilMs);
    }
    if (record.clockBehind) rt.#clock.resume(record.clockBehind);
    // (A signal loss raised by late frames is the clock monitor's, not the no-rhythm monitor's.)
    for (const t of record.openTechnical) if (t.kind !== 'signal_loss' || !rt.#clock.raised) rt.#monitors.find((m) => m.kind === t.kind)?.resume(t.onsetMs);
    for (const t of record.technicalSince ?? []) rt.#monitors.find((m) => m.kind === t.kind)?.resumeHolding?.(t.sinceMs);
    if (record.lastFirmwareBeatMs !== undefined) rt.#beats.rememberFirmwareBeat(record.lastFirmwareBeatMs);
    if (record.beatsFromEcg) rt.#beats.rememberEcgMode();
    if (record.firmwareOutage) rt.#beats.rememberFirmwareOutage(record.firmwareOutage);
    if (record.beatShapes) rt.#beats.rememberBeatShapes(record.beatShapes);
    // An open asystole: no QRS since its onset (the last one), which the first QRS detector of an
    // ECG-only stream is told, so that it does not take a standstill's P waves for beats (ecg-beats.ts).
    const asystole = rt.#alarms.openEpisodes().find((e) => e.kind === 'asystole');
    if (asystole) rt.#beats.rememberNoQrsSince(asystole.onsetMs);
    // Strips waiting for their post window go on with their windows' ECG so far.
    if (record.ecgStrips && options.ecgStrips !== false) rt.#ecg = EcgStripRecorder.restore(options.patientId, options.deviceId, record.ecgStrips, options.ecgStrips ?? {});
    if (record.pending && record.analysedUntilMs !== undefined) {
      for (const p of record.pending) rt.#streamDetectors().find((d) => d.kind === p.kind)?.resumePending?.(p.state);
      rt.#continueFromMs = record.analysedUntilMs;
    }
    // ECG-only device: the beats continue where the predecessor's left off (ecg-beats.ts).
    if (record.ecgBeats && record.analysedUntilMs !== undefined) rt.#beats.resume(record.ecgBeats);
    return rt;
  }

  /** Device time up to which frames have been analysed. */
  get analysedUntilMs(): number | undefined {
    return this.#reorder.releasedUntilMs ?? this.#replayUntilMs;
  }

  get criteriaVersion(): number {
    return this.#criteria?.version ?? 0;
  }

  /** The signal-loss delay in force for this patient, ms. */
  get silenceMs(): number {
    return (this.#criteria ?? this.#o.criteriaAt(this.analysedUntilMs ?? 0)).alarms.signal_loss.silenceMs;
  }

  get signalLossOpen(): boolean {
    return this.#alarms.isOpen('signal_loss');
  }

  /** A new (deduplicated) frame arrived. */
  ingest(frame: TelemetryFrame, nowIso: string): IngestResult {
    const result = this.#ingest(frame, nowIso);
    const ecgBeatFrames = this.#ecgBeatFrames;
    this.#ecgBeatFrames = [];
    return { ...result, strips: this.#takeStrips(), ecgBeatFrames, droppedLateBeats: this.#beats.takeDroppedLateBeats(), firmwareOutages: this.#beats.takeFirmwareOutages() };
  }

  /** The completed strips; a shared empty array when there are none (no allocation per frame). */
  #takeStrips(): EcgStrip[] {
    const out = this.#strips ?? NO_STRIPS;
    this.#strips = undefined;
    return out;
  }

  #addStrips(strips: EcgStrip[]): void {
    if (strips.length > 0) (this.#strips ??= []).push(...strips);
  }

  #ingest(frame: TelemetryFrame, nowIso: string): Omit<IngestResult, 'strips' | 'ecgBeatFrames' | 'droppedLateBeats' | 'firmwareOutages'> {
    const alerts: Alert[] = [];
    if (this.#replayUntilMs !== undefined && frame.ts + frame.durMs <= this.#replayUntilMs) {
      // Sent after the predecessor's frames on time, with the clock stepped back: late, not re-delivered.
      if (this.#clock.sentAfterOnTime(frame)) return { late: true, replayed: false, alerts: this.#onLate(frame, nowIso) };
      // A re-delivered frame says nothing about the device's clock now: it ends no loss the late frames keep open.
      if (!this.#clock.counting) alerts.push(...this.#endSignalLoss(frame, nowIso));
      this.#replay(frame);
      return { late: false, replayed: true, alerts };
    }
    const { late, ready } = this.#reorder.push(frame);
    if (late) {
      alerts.push(...this.#onLate(frame, nowIso));
    } else {
      this.#clock.onTime(frame);
      alerts.push(...this.#endSignalLoss(frame, nowIso));
    }
    for (const f of ready) alerts.push(...this.#analyse(f, nowIso));
    return { late, replayed: false, alerts };
  }

  /**
   * A frame arrived on time (or was re-delivered): data is flowing again, so signal loss ends here — unless it is the
   * loss of the rhythm in frames that do arrive (technical.ts NoRhythmMonitor), which ends at a
   * frame that carries it. (A late frame ends neither kind of loss: clock-behind.ts.)
   */
  #endSignalLoss(frame: TelemetryFrame, nowIso: string): Alert[] {
    const open = this.#alarms.openEpisodes().find((e) => e.kind === 'signal_loss');
    if (!open || this.#noRhythmOpen()) return [];
    const endMs = Math.max(frame.ts, open.onsetMs);
    return [
      ...this.#alarms.apply([{ type: 'end', kind: 'signal_loss', onsetMs: open.onsetMs, endMs, evidence: { ...open.alert.evidence, durationMs: endMs - open.onsetMs } }], endMs, nowIso),
      ...this.#alarms.advance(endMs, nowIso),
    ];
  }

  /** A late frame: the device's new frames behind the analysed data for the signal-loss delay raise the signal loss (clock-behind.ts). */
  #onLate(frame: TelemetryFrame, nowIso: string): Alert[] {
    const lastEndMs = this.analysedUntilMs;
    const signalLoss = this.#criteriaAtEnd()?.alarms.signal_loss;
    if (lastEndMs === undefined || !signalLoss?.enabled || !this.#clock.onLate(frame, signalLoss.silenceMs)) return [];
    const behindS = Math.round((lastEndMs - frame.ts - frame.durMs) / 1000);
    const evidence: AlertEvidence = {
      durationMs: signalLoss.silenceMs,
      criterion: `new frames from the device have arrived for ≥ ${signalLoss.silenceMs / 1000} s of their device time with timestamps behind the data already analysed (now ${behindS} s behind: the device clock stepped back, or the device rebooted with an earlier clock): they are stored but not analysed, so the rhythm is not monitored; onset = end of the analysed data, ends at the first frame on time`,
      thresholds: { silenceMs: signalLoss.silenceMs },
    };
    if (this.#alarms.isOpen('signal_loss')) {
      // Open since the device fell silent (it rebooted with an earlier clock): the same alert
      // goes on, and says now that frames arrive again, but behind — a clock for the operator to
      // look at, not a device out of reach. Its duration goes on from its onset.
      const { durationMs: _fromOnset, ...cause } = evidence;
      const revised = this.#alarms.reviseEvidence('signal_loss', { ...cause, note: 'frames arrive again since the signal loss began, but with device times behind the data already analysed' }, nowIso);
      return revised ? [revised] : [];
    }
    return this.#alarms.apply([{ type: 'onset', kind: 'signal_loss', onsetMs: lastEndMs, evidence }], lastEndMs, nowIso);
  }

  /**
   * The device went silent (wall clock). Held frames are analysed, held ends are confirmed, and a
   * signal_loss alert opens with onset = device time of the last frame's end.
   */
  onSilence(nowIso: string, silenceMs: number): Alert[] {
    const alerts: Alert[] = [];
    for (const f of this.#reorder.flush()) alerts.push(...this.#analyse(f, nowIso));
    // Nothing more will come for a while: hand out pending strips with what there is.
    if (this.#ecg) this.#addStrips(this.#ecg.flush());
    alerts.push(...this.#alarms.confirmPendingEnds(nowIso));
    const lastEndMs = this.analysedUntilMs;
    const criteria = this.#criteriaAtEnd();
    if (lastEndMs !== undefined && criteria?.alarms.signal_loss.enabled !== false && !this.#alarms.isOpen('signal_loss')) {
      const evidence: AlertEvidence = {
        criterion: `no telemetry received for ≥ ${silenceMs / 1000} s (${SIGNAL_LOSS_SOURCE}); measured on arrival (wall clock), onset = end of the last frame`,
        thresholds: { silenceMs },
      };
      alerts.push(...this.#alarms.apply([{ type: 'onset', kind: 'signal_loss', onsetMs: lastEndMs, evidence }], lastEndMs, nowIso));
    }
    return alerts;
  }

  /** A clinician snapshot (ack/resolve); true when the alert belongs to this stream. */
  onClinician(alert: Alert): boolean {
    return this.#alarms.onClinician(alert);
  }

  nextEscalationDueMs(): number | undefined {
    return this.#alarms.nextEscalationDueMs();
  }

  escalate(nowMs: number): Alert[] {
    return this.#alarms.escalate(nowMs);
  }

  /** Alerts still tracked (re-published once after a restore). */
  trackedAlerts(): Alert[] {
    return this.#alarms.trackedAlerts();
  }

  /**
   * The changelog record of this stream. `handover`: the last record before the stream is handed
   * to another processor (a graceful stop): the detectors keep what a successor needs even where
   * nothing is pending, and an ECG-only stream's beat source its state, so the successor goes on
   * exactly where this one stopped (processor.ts `stop`).
   */
  record(owner: string, writtenAt: number, options: { handover?: boolean } = {}): StreamStateRecord {
    const analysedUntilMs = this.analysedUntilMs;
    const pending = this.#pending(options.handover === true);
    const ecgStrips = this.#ecg?.state();
    const firmwareOutage = this.#beats.firmwareOutageState();
    // Only a running alarm delay, a strip's beat annotations and a firmware beat-output failure
    // (the fall-back to its silence waits for the QRS detector's decision, which a fresh detector
    // makes only after its learning period) need the beat source's state (its ECG costs a few kB per write).
    // Bounded however long the failure lasts: the kept ECG is a fixed window, at most
    // MAX_RESUME_ECG_MS (12 s) before the latest sample plus the frame that spans its start
    // (ecg-beats.ts #pruneTail, after every frame fed), the handed-out beats only those within it,
    // firmwareOutage's complexes the last 8 s: ≈ 8–11 kB of base64 at 250 Hz, ≤ ≈ 45 kB at 1000 Hz.
    const ecgBeats = pending.length > 0 || ecgStrips || firmwareOutage || (options.handover && this.#beats.ecgMode) ? this.#beats.state({ exact: options.handover === true }) : undefined;
    const lastFirmwareBeatMs = this.#beats.recentFirmwareBeatMs();
    const beatShapes = this.#beats.beatShapes();
    const clockBehind = this.#clock.state();
    // (At a hand-over only: the regular records are rewritten with every batch, and a lead-off is common.)
    const technicalSince = options.handover ? this.#monitors.flatMap((m) => { const sinceMs = m.holdingSinceMs?.(); return sinceMs === undefined ? [] : [{ kind: m.kind, sinceMs }]; }) : [];
    return {
      schema: STATE_SCHEMA,
      patientId: this.patientId,
      deviceId: this.deviceId,
      owner,
      ...(this.partition !== undefined ? { partition: this.partition } : {}),
      writtenAt,
      ...(analysedUntilMs !== undefined ? { analysedUntilMs } : {}),
      criteriaVersion: this.criteriaVersion,
      reorder: this.#reorder.snapshot(),
      alarms: this.#alarms.snapshot(),
      // Signal loss only while frames arrive without the rhythm (resumed like lead-off) or behind the analysed data (clock-behind.ts); the arrival based one ends at the next frame on time anyway.
      openTechnical: this.#alarms.openEpisodes().filter((e) => TECHNICAL_KINDS.has(e.kind) && (e.kind !== 'signal_loss' || this.#noRhythmOpen() || this.#clock.raised)).map((e) => ({ kind: e.kind, onsetMs: e.onsetMs })),
      ...(technicalSince.length > 0 ? { technicalSince } : {}),
      ...(pending.length > 0 ? { pending } : {}),
      ...(ecgBeats ? { ecgBeats } : {}),
      ...(lastFirmwareBeatMs !== undefined ? { lastFirmwareBeatMs } : {}),
      ...(this.#beats.ecgMode ? { beatsFromEcg: true as const } : {}),
      ...(firmwareOutage ? { firmwareOutage } : {}),
      ...(beatShapes ? { beatShapes } : {}),
      ...(ecgStrips ? { ecgStrips } : {}),
      ...(clockBehind ? { clockBehind } : {}),
    };
  }

  /** The signal loss open is the loss of the rhythm in arriving frames (technical.ts NoRhythmMonitor). */
  #noRhythmOpen(): boolean {
    return this.#monitors.some((m) => m instanceof NoRhythmMonitor && m.open);
  }

  /** Alarms whose delay is running (stream-state.ts `pending`). */
  #pending(handover = false): NonNullable<StreamStateRecord['pending']> {
    const out: NonNullable<StreamStateRecord['pending']> = [];
    // How far the input is known to hold no further beat, ahead of the detectors' data, for an
    // ECG-only device (ecg-beats.ts); firmware beats come with their frames, and frames without the
    // rhythm are a hole, not a silence: there the detectors' own data say it.
    const quietUntilMs = this.#beats.quietUntilMs();
    const context: PendingContext = { ...(quietUntilMs !== undefined ? { quietUntilMs } : {}), ...(handover ? { handover } : {}) };
    for (const d of this.#streamDetectors()) {
      const state = d.pendingState?.(context);
      if (state) out.push({ kind: d.kind, state });
      // (After the regular state, which a processor that cannot read this one still finds.)
      const whole = handover ? d.handoverState?.() : undefined;
      if (whole) out.push({ kind: d.kind, state: whole });
    }
    return out;
  }

  /**
   * What changes the record besides the advancing position (to decide whether to write it). While
   * an alarm delay is running, or a strip is waiting for its post window, the position is part of
   * it: the record is rewritten with every batch, so a successor resumes the delay from exactly the
   * committed position, and has the strip's ECG up to it (stream-state.ts).
   */
  contentFingerprint(): string {
    const pending = this.#pending();
    const strips = this.#ecg?.pendingCount ?? 0;
    // (A run of late frames, clock-behind.ts: rewritten with each of them, so a successor goes on counting it.)
    const clock = this.#clock.counting ? this.#clock.state() : 0;
    return JSON.stringify([this.criteriaVersion, this.#beats.ecgMode, this.#reorder.heldIds(), this.#alarms.snapshot(), pending.length > 0 || strips > 0 ? [pending, strips, this.analysedUntilMs] : 0, clock]);
  }

  /** ECG strips completed outside {@link ingest} (by {@link onSilence}); the caller publishes them. */
  takeStrips(): EcgStrip[] {
    return this.#takeStrips();
  }

  /** Records the frame's ECG for strips (the recorder starts at the first frame with ECG). */
  #recordEcg(frame: TelemetryFrame): void {
    if (this.#o.ecgStrips === false) return;
    if (!this.#ecg && frame.ecg) this.#ecg = new EcgStripRecorder(this.patientId, this.deviceId, this.#o.ecgStrips ?? {});
    if (this.#ecg) this.#addStrips(this.#ecg.addFrame(frame));
  }

  /**
   * Opens a strip capture for each newly raised physiological alert, and says on the alert whether
   * a strip will follow (a stream that has sent no ECG has no recorder, so none ever will).
   */
  #captureStrips(alerts: readonly Alert[]): void {
    for (const a of raisedPhysiological(alerts)) {
      a.ecgStrip = this.#ecg !== undefined;
      if (this.#ecg) this.#addStrips(this.#ecg.capture(a));
    }
  }

  #replay(frame: TelemetryFrame): void {
    // Input time, not the stream's watermark: in ECG mode that lags the input (ecg-beats.ts), and
    // after a restore it starts at the predecessor's position — a re-delivered frame is not old.
    const last = this.#inputUntilMs;
    if (last !== undefined && frame.ts < last - CONTINUITY_TOLERANCE_MS) return;
    // Kept for the pre-onset part of strips of alarms raised after the restart.
    this.#recordEcg(frame);
    this.#useCriteriaFor(frame.ts, undefined);
    // Only the physiological detectors: technical monitors were resumed exactly from the record.
    this.#alarms.onReplayedFrame(this.#detect(frame));
  }

  /**
   * Beats from the firmware, or from the frame's ECG when the device sends none (ecg-beats.ts):
   * the detectors see the beat frames the source hands out; in ECG mode the waveform detectors
   * get the input frame's samples directly (the derived frames carry none).
   */
  #detect(frame: TelemetryFrame, keepBeats = false): EpisodeChange[] {
    if (this.#continueFromMs !== undefined) {
      // The first frame after a restore with pending alarms: a hole since the previous owner's
      // position reaches the detectors as one (PatientStream), which drops what was pending.
      if (this.#stream.watermarkMs === undefined) this.#stream.resumeAt(this.#continueFromMs);
      this.#continueFromMs = undefined;
    }
    this.#inputUntilMs = frame.ts + frame.durMs;
    const { frames, changes } = detectThroughBeatSource(this.#beats, this.#stream, frame);
    if (this.#beats.ecgMode) {
      // Replayed frames (after a restore) were stored by the previous owner: only new ones count.
      if (keepBeats) this.#ecgBeatFrames.push(...frames);
      // The strips' beat annotations: the ECG frames they cut carry no beats.
      const last = frames.at(-1);
      if (this.#ecg && last) this.#addStrips(this.#ecg.addDerivedBeats(frames.flatMap((f) => f.beats.map((b) => ({ timeMs: f.ts + b.off, cls: b.cls }))), last.ts + last.durMs));
    }
    return changes;
  }

  #analyse(frame: TelemetryFrame, nowIso: string): Alert[] {
    const alerts = this.#useCriteriaFor(frame.ts, nowIso);
    this.#relearnIfAsked(frame);
    // Before detection: beats derived from this frame's ECG annotate it (addDerivedBeats).
    this.#recordEcg(frame);
    const changes: EpisodeChange[] = this.#detect(frame, true);
    const context = { noRhythm: this.#beats.noRhythm };
    for (const m of this.#monitors) changes.push(...m.onFrame(frame, context));
    alerts.push(...this.#alarms.onFrame(frame, changes, nowIso, (kind) => this.#stream.openEvidence(kind)));
    this.#captureStrips(alerts);
    return alerts;
  }

  /**
   * The care team's relearn (contracts/criteria.ts `Relearn`), at the first frame that ends after
   * it: the beat shapes learned from the ECG are forgotten before this frame's ECG is fed
   * (ecg-beats.ts `relearn`). A stream's first frame only notes the latest one: it learns afresh anyway.
   */
  #relearnIfAsked(frame: TelemetryFrame): void {
    const latest = this.#o.relearnAt?.(frame.ts + frame.durMs - 1) ?? -Infinity;
    if (this.#relearnedAtMs !== undefined && latest > this.#relearnedAtMs) this.#beats.relearn();
    this.#relearnedAtMs = latest;
  }

  /** The criteria in force at the end of the analysed data (before the first frame: none). */
  #criteriaAtEnd(): CriteriaVersion | undefined {
    const endMs = this.analysedUntilMs;
    return this.#criteria ?? (endMs !== undefined ? this.#o.criteriaAt(endMs) : undefined);
  }

  /** Switches to the criteria version in force at `tsMs` if it changed; returns alerts it ended. */
  #useCriteriaFor(tsMs: number, nowIso: string | undefined): Alert[] {
    const next = this.#o.criteriaAt(tsMs);
    if (this.#criteria && next.version === this.#criteria.version) return [];
    return this.#useCriteria(next, tsMs, nowIso);
  }

  #useCriteria(next: CriteriaVersion, atMs?: number, nowIso?: string): Alert[] {
    const before = this.#criteria;
    this.#criteria = next;
    const built = this.#detectorFactory(this.patientId, next.alarms);
    const monitors = monitorsForCriteria(next.alarms);
    if (!before) {
      this.#stream.replaceDetectors(built);
      this.#monitors = monitors;
      return [];
    }
    const changed = new Set<AlertKind>(changedKinds(before.alarms, next.alarms));
    // Detectors of unchanged kinds keep their state; changed ones start fresh.
    const keep = (kind: AlertKind) => !changed.has(kind);
    const oldDetectors = new Map(this.#streamDetectors().map((d) => [d.kind, d]));
    this.#stream.replaceDetectors(built.map((d) => (keep(d.kind) && oldDetectors.get(d.kind)) || d));
    for (const d of built) {
      if (!changed.has(d.kind)) continue;
      // A running alarm delay goes on under the new criteria when they cover it (the detector decides, limit-rate.ts).
      const state = oldDetectors.get(d.kind)?.pendingState?.();
      if (state) d.resumePending?.(state);
      // The new detector sees the stream from here (a silence running here counts from here, silence.ts).
      if (atMs !== undefined) d.dataResumedAt?.(atMs);
    }
    const oldMonitors = new Map(this.#monitors.map((m) => [m.kind, m]));
    this.#monitors = monitors.map((m) => (keep(m.kind) && oldMonitors.get(m.kind)) || m);
    const alerts: Alert[] = [];
    if (atMs === undefined) return alerts;
    for (const kind of changed) {
      if (!this.#alarms.isOpen(kind)) continue;
      const enabled = next.alarms[kind as keyof AlarmCriteria].enabled;
      if (!enabled) {
        if (nowIso !== undefined) alerts.push(...this.#alarms.endUnmonitored(kind, atMs, `alarm switched off by criteria version ${next.version} (set by ${next.setBy})`, nowIso));
      } else if (TECHNICAL_KINDS.has(kind)) {
        const episode = this.#alarms.openEpisodes().find((e) => e.kind === kind);
        if (episode) this.#monitors.find((m) => m.kind === kind)?.resume(episode.onsetMs);
      } else {
        this.#alarms.expectRedetection(kind, atMs);
        this.#continueOpen(kind, atMs);
      }
    }
    return alerts;
  }

  /** The fresh detector of an open alert's kind re-detects it without an alarm delay within the re-detection window. */
  #continueOpen(kind: AlertKind, sinceMs: number): void {
    const windowMs = (this.#o.lifecycle ?? LIFECYCLE_DEFAULTS).reconfirmMs[kind];
    this.#streamDetectors().find((d) => d.kind === kind)?.continueOpen?.(sinceMs + windowMs, sinceMs);
  }

  #streamDetectors(): readonly Detector[] {
    return this.#stream.detectors;
  }
}
