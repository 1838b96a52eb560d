/**
 * Device-time technical alarms computed from frames (fhir-and-alarms.md §7: technical alarm
 * conditions, low priority): `lead_off` and `low_battery`. `signal_loss` is arrival based (wall
 * clock) and lives in the processor (processor.ts). Like detectors these are pure state
 * machines on device time.
 */
import type { AlertEvidence, AlertKind } from '../contracts/alert.ts';
import type { TelemetryFrame } from '../contracts/telemetry.ts';
import type { EpisodeChange } from './detectors/detector.ts';

/** A frame-level monitor (technical conditions), fed every analysed frame in device-time order. */
export interface FrameMonitor {
  readonly kind: AlertKind;
  onFrame(frame: TelemetryFrame): EpisodeChange[];
  /**
   * Continues an episode the processor knew was open before a restart or a criteria change, so
   * the monitor ends it at the right moment instead of starting over.
   */
  resume(onsetMs: number): void;
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
 * Lead-off: frames flagged `leadOff` continuously for ≥ minDurationMs. Onset = the start of the
 * first lead-off frame; end = the start of the first frame with contact again. Frames missing in
 * between do not interrupt it (missing data is signal loss, a separate condition).
 */
export class LeadOffMonitor implements FrameMonitor {
  readonly kind = 'lead_off' as const;
  readonly #p: LeadOffParams;
  #sinceMs: number | undefined;
  #openOnsetMs: number | undefined;

  constructor(params: LeadOffParams = LEAD_OFF_DEFAULTS) {
    this.#p = params;
  }

  #evidence(durationMs: number): AlertEvidence {
    return {
      durationMs,
      criterion: `electrodes off (frames flagged leadOff) for ≥ ${this.#p.minDurationMs / 1000} s; ends when contact returns`,
      thresholds: { minDurationMs: this.#p.minDurationMs },
    };
  }

  onFrame(frame: TelemetryFrame): EpisodeChange[] {
    if (frame.leadOff) {
      this.#sinceMs ??= frame.ts;
      const lastedMs = frame.ts + frame.durMs - this.#sinceMs;
      if (this.#openOnsetMs === undefined && lastedMs >= this.#p.minDurationMs) {
        this.#openOnsetMs = this.#sinceMs;
        return [{ type: 'onset', kind: this.kind, onsetMs: this.#openOnsetMs, evidence: this.#evidence(lastedMs) }];
      }
      return [];
    }
    this.#sinceMs = undefined;
    if (this.#openOnsetMs === undefined) return [];
    const onsetMs = this.#openOnsetMs;
    this.#openOnsetMs = undefined;
    return [{ type: 'end', kind: this.kind, onsetMs, endMs: frame.ts, evidence: this.#evidence(frame.ts - onsetMs) }];
  }

  resume(onsetMs: number): void {
    this.#openOnsetMs = onsetMs;
    this.#sinceMs = onsetMs;
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
