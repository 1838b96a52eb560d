/**
 * The gateway's acceptance of one telemetry payload, as a pure function: decode and validate at
 * the receive time, then the patient assigned at the frame's device time. The gateway runs it
 * for every frame; `pulsebridge deadletter replay` runs it again for a dead-lettered frame (at
 * its original receive time, so a clock-skew check means what it meant then) after an operator
 * fixed the cause, e.g. assigned the device.
 */
import type { TelemetryFrame, TelemetryRecord } from '../contracts/telemetry.ts';
import type { DeviceDirectoryReader } from '../platform/registry/index.ts';
import { decodeTelemetry, DEFAULT_DECODE_LIMITS, type DecodeLimits } from './decode.ts';

export type TelemetryAcceptance =
  | { ok: true; record: TelemetryRecord }
  /** `frame`: the payload decoded but was refused later (unassigned device); liveness still counts it. */
  | { ok: false; reason: string; detail: string; frame?: TelemetryFrame };

export function acceptTelemetry(deviceId: string, payload: Buffer, receivedAt: number, registry: Pick<DeviceDirectoryReader, 'patientAt'>, limits: DecodeLimits = DEFAULT_DECODE_LIMITS): TelemetryAcceptance {
  const decoded = decodeTelemetry(payload, receivedAt, limits);
  if (!decoded.ok) return decoded;
  // A frame belongs to the patient assigned at the frame's device time.
  const patientId = registry.patientAt(deviceId, decoded.frame.ts);
  if (!patientId) {
    return { ok: false, reason: 'unassigned_device', detail: `device ${deviceId} has no patient assigned at ${new Date(decoded.frame.ts).toISOString()}`, frame: decoded.frame };
  }
  return { ok: true, record: { schema: 'pb.telemetry.v1', deviceId, patientId, format: decoded.format, receivedAt, frame: decoded.frame } };
}
