/**
 * Device-time technical alarms computed from frames (fhir-and-alarms.md §7: technical alarm
 * conditions, low priority): `lead_off`, `low_battery`, and `signal_loss` while frames arrive
 * that carry no rhythm ({@link NoRhythmMonitor}). `signal_loss` for frames that stop arriving is
 * arrival based (wall clock) and lives in the processor (stream-runtime.ts `onSilence`). Like
 * detectors these are pure state machines on device time.
 */
import type { AlertEvidence, AlertKind } from '../contracts/alert.ts';
import type { TelemetryFrame } from '../contracts/telemetry.ts';
import type { EpisodeChange } from './detectors/detector.ts';

/** What the processor knows about an analysed frame beyond its fields. */
export interface FrameContext {
  /** The frame says nothing about the rhythm (ecg-beats.ts `noRhythm`: beats from the ECG, and it has neither). */
  noRhythm: boolean;
}

/** A frame-level monitor (technical conditions), fed every analysed frame in device-time order. */
export interface FrameMonitor {
  readonly kind: AlertKind;
  onFrame(frame: TelemetryFrame, context?: FrameContext): EpisodeChange[];
  /**
   * Continues an episode the processor knew was open before a restart or a criteria change, so
   * the monitor ends it at the right moment instead of starting over.
   */
  resume(onsetMs: number): void;
  /**
   * Optional: since when the condition holds without its alarm yet (its delay running), for a
   * graceful hand-over (stream-state.ts `technicalSince`); undefined when it does not hold or is open.
   */
  holdingSinceMs?(): number | undefined;
  /** Optional: a predecessor's {@link holdingSinceMs}: the delay goes on from it if the next frames still hold the condition. */
  resumeHolding?(sinceMs: number): void;
}

export interface LeadOffParams {
  /** Lead-off must last this long before it alarms, ms (device time). */
  minDurationMs: number;
}

/**
 * 10 s: brief lead-off while a patient moves or adjusts a patch is common in ambulatory
 * monitoring and not worth an alarm; 10 s matches the signal-loss delay of issue 4, since both
 * mean "we are not monitoring this patient". Our choice; no standard number was found.
 */
export const LEAD_OFF_DEFAULTS: LeadOffParams = { minDurationMs: 10_000 };

/**
 * A frame condition that alarms once it has held for `minDurationMs` of device time. Onset = the
 * start of the first frame it holds in; end = the start of the first frame it no longer holds in.
 * Frames missing in between do not interrupt it (missing frames are the arrival-based signal loss).
 */
abstract class SustainedFrameCondition implements FrameMonitor {
  abstract readonly kind: AlertKind;
  readonly #minDurationMs: number;
  #sinceMs: number | undefined;
  #openOnsetMs: number | undefined;

  constructor(minDurationMs: number) {
    this.#minDurationMs = minDurationMs;
  }

  /** Whether the condition holds in this frame. */
  protected abstract holds(frame: TelemetryFrame, context: FrameContext | undefined): boolean;
  protected abstract evidence(durationMs: number): AlertEvidence;

  /** Whether its alarm is open. */
  get open(): boolean {
    return this.#openOnsetMs !== undefined;
  }

  onFrame(frame: TelemetryFrame, context?: FrameContext): EpisodeChange[] {
    if (this.holds(frame, context)) {
      this.#sinceMs ??= frame.ts;
      const lastedMs = frame.ts + frame.durMs - this.#sinceMs;
      if (this.#openOnsetMs === undefined && lastedMs >= this.#minDurationMs) {
        this.#openOnsetMs = this.#sinceMs;
        return [{ type: 'onset', kind: this.kind, onsetMs: this.#openOnsetMs, evidence: this.evidence(lastedMs) }];
      }
      return [];
    }
    this.#sinceMs = undefined;
    if (this.#openOnsetMs === undefined) return [];
    const onsetMs = this.#openOnsetMs;
    this.#openOnsetMs = undefined;
    return [{ type: 'end', kind: this.kind, onsetMs, endMs: frame.ts, evidence: this.evidence(frame.ts - onsetMs) }];
  }

  resume(onsetMs: number): void {
    this.#openOnsetMs = onsetMs;
    this.#sinceMs = onsetMs;
  }

  holdingSinceMs(): number | undefined {
    return this.#openOnsetMs === undefined ? this.#sinceMs : undefined;
  }

  resumeHolding(sinceMs: number): void {
    // (A frame without the condition, re-delivered or new, starts it afresh as ever.)
    if (this.#openOnsetMs === undefined) this.#sinceMs ??= sinceMs;
  }
}

/** Lead-off: frames flagged `leadOff` continuously for ≥ minDurationMs; ends at the first frame with contact again. */
export class LeadOffMonitor extends SustainedFrameCondition {
  readonly kind = 'lead_off' as const;
  readonly #p: LeadOffParams;

  constructor(params: LeadOffParams = LEAD_OFF_DEFAULTS) {
    super(params.minDurationMs);
    this.#p = params;
  }

  protected holds(frame: TelemetryFrame): boolean {
    return frame.leadOff;
  }

  protected evidence(durationMs: number): AlertEvidence {
    return {
      durationMs,
      criterion: `electrodes off (frames flagged leadOff) for ≥ ${this.#p.minDurationMs / 1000} s; ends when contact returns`,
      thresholds: { minDurationMs: this.#p.minDurationMs },
    };
  }
}

export interface LowBatteryParams {
  /** Alarm when the charge is below this, percent. */
  belowPct: number;
  /** End once the charge is at least this, percent (hysteresis). */
  clearAtPct: number;
}

/**
 * < 15 %: issue 4. End at ≥ 20 %: our hysteresis, so a reading wobbling around 15 % (battery
 * gauges report ±1–2 %) raises one alert, and a charging device clears it once it has a useful
 * reserve.
 */
export const LOW_BATTERY_DEFAULTS: LowBatteryParams = { belowPct: 15, clearAtPct: 20 };

/** The frame value that means "battery unknown" (device-protocol.md). */
const BATTERY_UNKNOWN = 255;

/** Low battery: onset at the first frame below `belowPct`, end at the first frame at or above `clearAtPct`. */
export class LowBatteryMonitor implements FrameMonitor {
  readonly kind = 'low_battery' as const;
  readonly #p: LowBatteryParams;
  #openOnsetMs: number | undefined;

  constructor(params: LowBatteryParams = LOW_BATTERY_DEFAULTS) {
    if (!(params.clearAtPct > params.belowPct)) throw new RangeError('low_battery clearAtPct must be above belowPct');
    this.#p = params;
  }

  #evidence(batteryPct: number): AlertEvidence {
    return {
      batteryPct,
      criterion: `battery < ${this.#p.belowPct} % (issue 4); ends at ≥ ${this.#p.clearAtPct} %`,
      thresholds: { belowPct: this.#p.belowPct, clearAtPct: this.#p.clearAtPct },
    };
  }

  onFrame(frame: TelemetryFrame): EpisodeChange[] {
    if (frame.battery === BATTERY_UNKNOWN || frame.battery > 100) return [];
    if (this.#openOnsetMs === undefined) {
      if (frame.battery >= this.#p.belowPct) return [];
      this.#openOnsetMs = frame.ts;
      return [{ type: 'onset', kind: this.kind, onsetMs: frame.ts, evidence: this.#evidence(frame.battery) }];
    }
    if (frame.battery < this.#p.clearAtPct) return [];
    const onsetMs = this.#openOnsetMs;
    this.#openOnsetMs = undefined;
    return [{ type: 'end', kind: this.kind, onsetMs, endMs: frame.ts, evidence: this.#evidence(frame.battery) }];
  }

  resume(onsetMs: number): void {
    this.#openOnsetMs = onsetMs;
  }
}

export interface NoRhythmParams {
  /** Frames without rhythm for this long (device time) alarm, ms: the signal-loss delay (criteria `signal_loss.silenceMs`). */
  silenceMs: number;
}

/**
 * Signal loss while frames still arrive (issue 12 session 19): a device whose beats the processor
 * detects in its ECG (ecg-beats.ts) sends lead-on frames with neither ECG nor beats (its ECG
 * switched off by a `config` command, or lost in the firmware) for ≥ `silenceMs`. The patient's
 * rhythm is then not monitored though the device looks online: the central station must say so
 * (product.md: silence means "fine", not "no data"). Same kind, delay and priority as the arrival
 * based signal loss, since it means the same to the clinician; the evidence says which. Onset =
 * the first such frame; end = the first frame with ECG, beats or lead-off (lead-off has its own
 * alarm).
 */
export class NoRhythmMonitor extends SustainedFrameCondition {
  readonly kind = 'signal_loss' as const;
  readonly #p: NoRhythmParams;

  constructor(params: NoRhythmParams) {
    super(params.silenceMs);
    this.#p = params;
  }

  protected holds(_frame: TelemetryFrame, context: FrameContext | undefined): boolean {
    return context?.noRhythm === true;
  }

  protected evidence(durationMs: number): AlertEvidence {
    return {
      durationMs,
      criterion: `frames without ECG and without beats for ≥ ${this.#p.silenceMs / 1000} s from a device whose beats come from its ECG: the rhythm is not monitored (its ECG is off or missing); ends at the first frame with ECG or beats`,
      thresholds: { silenceMs: this.#p.silenceMs },
    };
  }
}
