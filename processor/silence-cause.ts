/**
 * Signal loss is not bus loss (issue 13 item 2). When no frame of a stream has reached the
 * processor for the silence delay, the cause is either the device (patient alarm `signal_loss`)
 * or the infrastructure between the device's gateway and the processor: the bus is down, the
 * gateway is down, or the processor lags behind. The latter must raise ONE alarm to operators,
 * not one patient alarm per stream, and must not flush what the detectors hold: the frames are
 * delayed, not missing, and are analysed on device time once they arrive.
 *
 * The evidence is the gateway's liveness (platform/registry: rows and heartbeats the gateway
 * writes every ~1 s through the same bus, or the SQLite registry in embedded mode):
 * - the processor has heard the device's gateway AFTER its own last frame of the device arrived
 *   (plus a margin of two heartbeats), so the gateway and the path from it are alive; and
 * - the gateway has received no frame of the device newer than the processor's last one
 *   (both are the gateway's receive times, one clock).
 * Only then is the silence the device's. Without liveness for the device (never seen by a
 * gateway, or no liveness reader configured) the silence is the device's, as before.
 *
 * A gateway that was down or restarted after the device's last frame cut the device's connection
 * (session 32): the device gets the signal-loss delay after the gateway is back to reconnect
 * before its silence is its own. Before, a gateway killed and restarted with the same id raised
 * `signal_loss` for every patient whose device had not reconnected within a second or two of the
 * restart (14 of 24 in an operator's walkthrough), each ended a second later by the backlog.
 *
 * Newer frames delay nothing when they do not belong to the stream's patient (session 31): the
 * device was reassigned (its frames now go to another patient's stream) or its frames are refused
 * (unassigned, invalid: dead-lettered). Then this patient is no longer monitored by the device —
 * the silence is the device's, as after `device disable`. Before, such a stream was held as an
 * infrastructure gap for as long as the device sent: an operator alarm that never cleared, and
 * patient signal-loss alarms held back meanwhile.
 */

/** What the processor reads of a device's liveness (platform/registry DeviceLivenessView). */
export interface UpstreamLivenessView {
  gatewayId: string | undefined;
  /** Gateway receive time of the device's latest frame (gateway clock). */
  lastFrameAtMs: number | undefined;
  /** When the processor last heard the gateway's heartbeat (processor clock). */
  gatewayHeardAtMs?: number;
  /** The patient the gateway published the latest frame for, '' when refused; absent from older gateways. */
  lastFramePatientId?: string;
  /** Since when the gateway has been up without interruption (processor clock); absent when unknown. */
  gatewayUpSinceMs?: number;
}

export interface UpstreamLiveness {
  get(deviceId: string): UpstreamLivenessView | undefined;
}

export interface SilenceEvidence {
  /** Processor clock: when the stream's latest frame reached the processor. */
  lastArrivalMs: number;
  /** Gateway clock: `receivedAt` of the stream's latest frame; undefined after a restore. */
  lastReceivedAtMs: number | undefined;
  /** The stream's patient. */
  patientId: string;
  /** Processor clock now, and the stream's signal-loss delay: a device gets that long to reconnect after its gateway's outage. */
  nowMs?: number;
  silenceMs?: number;
}

export type SilenceVerdict =
  | { cause: 'device'; reason: string }
  | { cause: 'infrastructure'; reason: string; gatewayId: string | undefined };

/** Two heartbeats (gateways flush every ~1 s): a heartbeat this much after our last frame is news. */
export const HEARTBEAT_MARGIN_MS = 2000;

export function silenceCause(view: UpstreamLivenessView | undefined, evidence: SilenceEvidence, marginMs = HEARTBEAT_MARGIN_MS): SilenceVerdict {
  if (!view) return { cause: 'device', reason: 'no gateway liveness known for the device' };
  if (view.gatewayHeardAtMs === undefined || view.gatewayHeardAtMs < evidence.lastArrivalMs + marginMs) {
    return { cause: 'infrastructure', gatewayId: view.gatewayId,
      reason: `no heartbeat of gateway ${view.gatewayId ?? '(unknown)'} reached the processor since the device's last frame: the bus or the gateway is down` };
  }
  const upSince = view.gatewayUpSinceMs;
  if (upSince !== undefined && upSince > evidence.lastArrivalMs && evidence.nowMs !== undefined && evidence.silenceMs !== undefined
    && evidence.nowMs - upSince < evidence.silenceMs + marginMs) {
    // The gateway was down or restarted after the device's last frame: the outage cut the device's
    // connection, and the device has had less than the signal-loss delay to reconnect since — plus
    // the heartbeat margin, the time a reconnected device's first frame takes to show in the
    // liveness the gateway flushes every second (a device back at 10.5 s got a brief signal_loss).
    return { cause: 'infrastructure', gatewayId: view.gatewayId,
      reason: `gateway ${view.gatewayId ?? '(unknown)'} is back for ${Math.round((evidence.nowMs - upSince) / 1000)} s after an outage that began after the device's last frame: the device has ${Math.round(evidence.silenceMs / 1000)} s to reconnect` };
  }
  if (evidence.lastReceivedAtMs !== undefined && view.lastFrameAtMs !== undefined && view.lastFrameAtMs > evidence.lastReceivedAtMs) {
    const to = view.lastFramePatientId;
    if (to !== undefined && to !== evidence.patientId) {
      return { cause: 'device', reason: to === ''
        ? `gateway ${view.gatewayId ?? '(unknown)'} refuses the device's newer frames (dead-lettered: e.g. the device was unassigned): nothing reaches this patient's stream`
        : 'the device\'s newer frames go to another patient (the device was reassigned): it no longer monitors this patient' };
    }
    return { cause: 'infrastructure', gatewayId: view.gatewayId,
      reason: `gateway ${view.gatewayId ?? '(unknown)'} received frames ${view.lastFrameAtMs - evidence.lastReceivedAtMs} ms newer than the processor's latest: telemetry is delayed on the bus` };
  }
  return { cause: 'device', reason: `gateway ${view.gatewayId ?? '(unknown)'} is alive and received nothing newer from the device` };
}
