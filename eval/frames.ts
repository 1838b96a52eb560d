/**
 * Turns reference beats into the telemetry frames a device would send (device-protocol.md
 * "Telemetry frame"): consecutive 1 s frames, each beat at its R-peak offset with the RR interval
 * since the previous beat (0 for the first) and its AAMI class. The harness feeds these frames to
 * the production {@link PatientStream}, so the detectors see exactly what they see in service.
 */
import type { Beat, TelemetryFrame } from '../contracts/telemetry.ts';
import type { ReferenceBeat } from './records.ts';

export const EVAL_FRAME_MS = 1000;
/** The contract's rr field is uint16: longer intervals are reported as that maximum. */
const MAX_RR_MS = 0xffff;

/**
 * Frames covering [0, durationMs) of a record, lazily (a 24 h record is ~86 000 frames).
 * @param beats reference beats in time order, times in ms from the record start
 * @param startMs device time of the record start (ms since epoch)
 */
export function* framesFromBeats(beats: readonly ReferenceBeat[], durationMs: number, startMs: number, frameMs = EVAL_FRAME_MS): Generator<TelemetryFrame> {
  let i = 0;
  let prevMs: number | undefined;
  const frameCount = Math.ceil(durationMs / frameMs);
  for (let seq = 0; seq < frameCount; seq++) {
    const fromMs = seq * frameMs;
    const out: Beat[] = [];
    let rrSum = 0;
    let rrCount = 0;
    while (i < beats.length && beats[i]!.timeMs < fromMs + frameMs) {
      const b = beats[i++]!;
      if (b.timeMs < fromMs) continue; // never: beats are sorted and frames contiguous
      const rr = prevMs === undefined ? 0 : Math.min(b.timeMs - prevMs, MAX_RR_MS);
      prevMs = b.timeMs;
      out.push({ off: b.timeMs - fromMs, rr, cls: b.cls });
      if (rr > 0) { rrSum += rr; rrCount++; }
    }
    const hr = rrCount > 0 ? Math.min(255, Math.round(60000 / (rrSum / rrCount))) : 0;
    yield { seq, ts: startMs + fromMs, durMs: frameMs, hr, battery: 100, leadOff: false, beats: out };
  }
}
