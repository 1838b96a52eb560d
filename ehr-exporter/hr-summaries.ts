/**
 * Periodic heart-rate summaries for the EHR (issue 11 §3, fhir-and-alarms.md §1 row 1): per
 * patient and fixed device-time window (e.g. 5 min), the mean of the device-computed heart rate of
 * the frames in it, as a vital-signs HR Observation (LOINC 8867-4 + MDC 147842, `/min`) with
 * effectiveDateTime = the window's end (the R4 vs-1 invariant false-fails on a Period, §1 notes).
 * Frames with the leads off or without a computed rate (`hr` 0, device-protocol.md) do not count;
 * a window with only such frames is sent with dataAbsentReason `error` (§2.5), never a value.
 *
 * Pure aggregation; exporter.ts consumes the telemetry and writes. A window is emitted when the
 * patient's first frame at or after its end arrives (device time). Only windows this instance saw
 * from their start are emitted: after a restart the bus re-delivers only uncommitted frames, so the
 * window in progress would be partial; it is skipped (and counted) rather than sent as a mean of
 * part of the data. The identifier `{deviceId}/147842/summary/{windowStart}` makes a re-sent
 * summary a no-op.
 */
import type { TelemetryRecord } from '../contracts/telemetry.ts';

export interface HrWindow {
  patientId: string;
  deviceId: string;
  startMs: number;
  endMs: number;
  /** Mean HR of the counted frames, bpm; undefined when no frame counted (lead-off, no rate). */
  meanBpm: number | undefined;
  frames: number;
}

interface Open {
  startMs: number;
  deviceId: string;
  sum: number;
  counted: number;
  frames: number;
  /** False when this instance joined in the middle of the window. */
  complete: boolean;
}

export class HrSummaries {
  readonly #windowMs: number;
  readonly #open = new Map<string, Open>();
  /** Windows skipped because they were not seen from their start. */
  partialSkipped = 0;

  constructor(windowMs: number) {
    this.#windowMs = windowMs;
  }

  /** Adds one frame; returns the windows it closed (at most one per patient). */
  add(record: Pick<TelemetryRecord, 'patientId' | 'deviceId' | 'frame'>): HrWindow[] {
    const t = record.frame.ts;
    const startMs = Math.floor(t / this.#windowMs) * this.#windowMs;
    const open = this.#open.get(record.patientId);
    const out: HrWindow[] = [];
    if (open && startMs < open.startMs) return out; // late frame of a window already closed
    if (open && startMs > open.startMs) {
      if (open.complete) {
        out.push({ patientId: record.patientId, deviceId: open.deviceId, startMs: open.startMs, endMs: open.startMs + this.#windowMs, meanBpm: open.counted > 0 ? open.sum / open.counted : undefined, frames: open.frames });
      } else {
        this.partialSkipped++;
      }
    }
    if (!open || startMs > open.startMs) {
      // Complete when we saw it from its start: we had the patient's earlier frames (a gap is the
      // device's, not ours), or this frame opens the window.
      const complete = open !== undefined || t - startMs < record.frame.durMs;
      this.#open.set(record.patientId, { startMs, deviceId: record.deviceId, sum: 0, counted: 0, frames: 0, complete });
    }
    const w = this.#open.get(record.patientId)!;
    w.frames++;
    w.deviceId = record.deviceId;
    if (!record.frame.leadOff && record.frame.hr > 0) {
      w.sum += record.frame.hr;
      w.counted++;
    }
    return out;
  }
}
