/**
 * Exports dated in the future, noticed at the EHR boundary (EHR walk #20, /work/notes/ehr-walk.md).
 * Clinical times in what we send are device times (alert onset and end, an ECG strip's samples, an
 * HR summary's window), and the gateway accepts a device clock up to 24 h off by contract. A device
 * whose clock ran 2.5 h ahead had its heart-rate summaries written to the EHR 2.5 h in the future.
 * FHIR R4 does not forbid that, but EHRs commonly refuse or mis-file results dated ahead of now.
 *
 * The export is never held back or altered for it: an alarm must reach the EHR, and shifting a
 * device time by a guessed offset would make it wrong in another way. It is counted
 * (`pb_ehr_future_dated_total`), shown in /healthz (`futureDatedExports`), and warned about once
 * per device per hour, naming the device and our patient id (never the MRN), so that someone fixes
 * the device's clock.
 */
import type { Logger } from '../platform/log.ts';
import type { MetricsRegistry } from '../platform/metrics.ts';

/**
 * More than this ahead of the exporter's clock counts as future-dated. NTP keeps servers within
 * milliseconds; 5 min leaves room for a device that syncs its clock seldom without letting a
 * clock that is plainly wrong pass (EHR walk #20 proposed "a few minutes").
 */
export const FUTURE_TOLERANCE_MS = 5 * 60_000;
/** One warning per device per hour: enough for someone to act, not a line per message. */
const WARN_INTERVAL_MS = 3_600_000;
/** Devices whose last warning time is kept (oldest forgotten first); a forgotten one just warns again. */
const MAX_DEVICES = 10_000;

export interface ExportTime {
  /** `fhir` or `hl7`: the metric's label. */
  protocol: 'fhir' | 'hl7';
  /** What is exported (`alert`, `ecg-strip`, `hr-summary`): the metric's label. */
  what: string;
  deviceId: string;
  patientId: string;
  /** The latest clinical (device) time in the export, ms since the epoch. */
  effectiveMs: number;
}

export interface FutureDatedCheck {
  /** Counts and (throttled) warns when `t` is more than {@link FUTURE_TOLERANCE_MS} ahead of now. Returns whether it was. */
  check(t: ExportTime): boolean;
  /** Future-dated exports seen since start. */
  readonly count: number;
}

export function createFutureDatedCheck(deps: { logger: Logger; metrics: MetricsRegistry; now?: () => number }): FutureDatedCheck {
  const now = deps.now ?? Date.now;
  const counter = deps.metrics.counter('pb_ehr_future_dated_total', 'Exports to the EHR dated more than 5 min ahead of the exporter\'s clock (device clock ahead), sent unchanged, by protocol and what');
  const lastWarned = new Map<string, number>();
  let count = 0;
  return {
    get count() {
      return count;
    },
    check(t) {
      const at = now();
      const aheadMs = t.effectiveMs - at;
      if (!(aheadMs > FUTURE_TOLERANCE_MS)) return false;
      count++;
      counter.inc({ protocol: t.protocol, what: t.what });
      const last = lastWarned.get(t.deviceId);
      if (last === undefined || at - last >= WARN_INTERVAL_MS) {
        lastWarned.delete(t.deviceId);
        lastWarned.set(t.deviceId, at);
        if (lastWarned.size > MAX_DEVICES) lastWarned.delete(lastWarned.keys().next().value!);
        deps.logger.warn('export to the EHR dated in the future: the device clock runs ahead; sent unchanged (warned once per device per hour)', {
          deviceId: t.deviceId, patientId: t.patientId, protocol: t.protocol, what: t.what, aheadMinutes: Math.round(aheadMs / 60_000), effective: new Date(t.effectiveMs).toISOString(),
        });
      }
      return true;
    },
  };
}

/** The latest device time of an alert snapshot: its end when it has one, else its onset. */
export function alertEffectiveMs(alert: { onset: string; end?: string }): number {
  return Math.max(Date.parse(alert.onset), alert.end === undefined ? Number.NEGATIVE_INFINITY : Date.parse(alert.end));
}
