/**
 * How a device and a command are shown to people and scripts (`GET /v1/devices/{id}`,
 * `pulsebridge device show`): one JSON shape, times as ISO 8601 (UTC), absent values as null.
 */
import type { DeviceCommand } from './commands.ts';
import type { DeviceLivenessView } from './liveness.ts';
import type { Assignment, DeviceRecord } from './types.ts';

export interface AssignmentView { patientId: string; from: string; to: string | null }

export interface DeviceView {
  deviceId: string;
  enabled: boolean;
  createdAt: string;
  /** The patient assigned now. */
  patientId: string | null;
  /** Whole assignment history; only for callers allowed to see every patient (admins). */
  assignments?: AssignmentView[];
  /** Connected to a live gateway (see DeviceLivenessView.online). */
  online: boolean;
  connectedAt: string | null;
  disconnectedAt: string | null;
  disconnectReason: string | null;
  lastSeenAt: string | null;
  lastFrameAt: string | null;
  lastSeq: number | null;
  /** `online` of the device's last status message; false after its Last Will. */
  reportedOnline: boolean | null;
  statusAt: string | null;
  fw: string | null;
  model: string | null;
  batteryPercent: number | null;
  charging: boolean | null;
  /** Smoothed device clock minus gateway clock. */
  clockSkewMs: number | null;
  lastClockSkewMs: number | null;
  gatewayId: string | null;
}

const isoOrNull = (ms: number | undefined) => (ms === undefined ? null : new Date(ms).toISOString());
const orNull = <T>(v: T | undefined): T | null => (v === undefined ? null : v);

export function assignmentView(a: Assignment): AssignmentView {
  return { patientId: a.patientId, from: new Date(a.fromMs).toISOString(), to: isoOrNull(a.toMs) };
}

export function deviceView(device: DeviceRecord, liveness: DeviceLivenessView | undefined, assignments?: readonly Assignment[]): DeviceView {
  const l = liveness;
  return {
    deviceId: device.deviceId,
    enabled: device.enabled,
    createdAt: new Date(device.createdAt).toISOString(),
    patientId: orNull(device.patientId),
    ...(assignments ? { assignments: assignments.map(assignmentView) } : {}),
    online: l?.online ?? false,
    connectedAt: isoOrNull(l?.connectedAtMs),
    disconnectedAt: isoOrNull(l?.disconnectedAtMs),
    disconnectReason: orNull(l?.disconnectReason),
    lastSeenAt: isoOrNull(l?.lastSeenMs),
    lastFrameAt: isoOrNull(l?.lastFrameAtMs),
    lastSeq: orNull(l?.lastSeq),
    reportedOnline: orNull(l?.reportedOnline),
    statusAt: isoOrNull(l?.statusAtMs),
    fw: orNull(l?.fw),
    model: orNull(l?.model),
    batteryPercent: orNull(l?.battery),
    charging: orNull(l?.charging),
    clockSkewMs: orNull(l?.clockSkewMs),
    lastClockSkewMs: orNull(l?.lastClockSkewMs),
    gatewayId: orNull(l?.gatewayId),
  };
}

export interface CommandView {
  id: string;
  deviceId: string;
  type: string;
  /** Exactly what the device receives. */
  payload: Record<string, unknown>;
  state: string;
  createdAt: string;
  createdBy: string;
  expiresAt: string;
  timeoutMs: number;
  deliveredAt: string | null;
  deadlineAt: string | null;
  deliveryCount: number;
  result: { ok: boolean; error: string | null; at: string } | null;
  finishedAt: string | null;
}

export function commandView(c: DeviceCommand): CommandView {
  return {
    id: c.id,
    deviceId: c.deviceId,
    type: c.type,
    payload: c.payload,
    state: c.state,
    createdAt: new Date(c.createdAtMs).toISOString(),
    createdBy: c.createdBy,
    expiresAt: new Date(c.expiresAtMs).toISOString(),
    timeoutMs: c.timeoutMs,
    deliveredAt: isoOrNull(c.deliveredAtMs),
    deadlineAt: isoOrNull(c.deadlineAtMs),
    deliveryCount: c.deliveryCount,
    result: c.result ? { ok: c.result.ok, error: c.result.error ?? null, at: new Date(c.result.atMs).toISOString() } : null,
    finishedAt: isoOrNull(c.finishedAtMs),
  };
}
