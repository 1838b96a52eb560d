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
 * The points carry the device frame's seq (vitals-store.ts FrameSeq), unless `keyBySeq` is false:
 * the frames of beats the processor derives from the ECG are cut by the processor, not sent by the
 * device, so a successor may cut them again under another input frame's seq — their points are
 * keyed by time alone, and their times only advance.
 */
export function vitalsFromFrame(record: TelemetryRecord, { keyBySeq = true }: { keyBySeq?: boolean } = {}): { heartRate: HeartRatePoint[]; rr: RrPoint[] } {
  const { frame, patientId, deviceId } = record;
  const seq = keyBySeq ? { seq: frame.seq } : {};
  if (frame.leadOff) return { heartRate: [], rr: [] };
  const rr: RrPoint[] = [];
  for (const b of frame.beats) {
    if (b.rr > 0) rr.push({ patientId, deviceId, timeMs: frame.ts + b.off, rrMs: b.rr, cls: b.cls, ...seq });
  }
  const heartRate: HeartRatePoint[] = [];
  if (rr.length > 0) {
    const meanRrMs = rr.reduce((s, p) => s + p.rrMs, 0) / rr.length;
    heartRate.push({ patientId, deviceId, timeMs: frame.ts + frame.durMs, hrBpm: Math.round((60000 / meanRrMs) * 10) / 10, ...seq });
  }
  return { heartRate, rr };
}
