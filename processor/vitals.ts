/**
 * Time-series points derived from one frame: one heart-rate point per frame and one RR point per
 * beat with a known RR. Lead-off frames produce none (their beats are unreliable;
 * fhir-and-alarms.md §2.5 "Do not emit HR values for lead-off windows").
 */
import type { TelemetryRecord } from '../contracts/telemetry.ts';
import type { HeartRatePoint, RrPoint } from '../platform/store/index.ts';

/**
 * Heart rate of a frame = 60000 / mean RR of the frame's beats with a known RR, stamped at the
 * frame's end (device time). Frames without such beats get no point rather than a guess.
 */
export function vitalsFromFrame(record: TelemetryRecord): { heartRate: HeartRatePoint[]; rr: RrPoint[] } {
  const { frame, patientId, deviceId } = record;
  if (frame.leadOff) return { heartRate: [], rr: [] };
  const rr: RrPoint[] = [];
  for (const b of frame.beats) {
    if (b.rr > 0) rr.push({ patientId, deviceId, timeMs: frame.ts + b.off, rrMs: b.rr, cls: b.cls });
  }
  const heartRate: HeartRatePoint[] = [];
  if (rr.length > 0) {
    const meanRrMs = rr.reduce((s, p) => s + p.rrMs, 0) / rr.length;
    heartRate.push({ patientId, deviceId, timeMs: frame.ts + frame.durMs, hrBpm: Math.round((60000 / meanRrMs) * 10) / 10 });
  }
  return { heartRate, rr };
}
