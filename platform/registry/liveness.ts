/**
 * Device liveness: is the device connected, when was it last heard from, what it reports about
 * itself on its retained status topic (firmware, model, battery, charging) and how far its clock
 * is from the gateway's (device-protocol.md "Status" and "Limits"). The gateway holds the live
 * state in memory and writes it here in batches (once a second); the dashboard API and the CLI,
 * other processes in production, read it from here.
 */
import type { MaybePromise } from './types.ts';

/** Liveness of one device as stored. Times are wall-clock ms since the epoch. */
export interface DeviceLiveness {
  deviceId: string;
  /** The gateway holds an MQTT connection of the device (as last written by that gateway). */
  connected: boolean;
  /** The gateway instance that holds (or last held) the connection. */
  gatewayId: string | undefined;
  connectedAtMs: number | undefined;
  disconnectedAtMs: number | undefined;
  /** Why the last connection ended: `revoked`, `gateway_shutdown`, the client error, … */
  disconnectReason: string | undefined;
  /** Last time anything arrived from the device (telemetry, status, command result, ping). */
  lastSeenMs: number | undefined;
  /** Receive time and sequence number of the last telemetry frame. */
  lastFrameAtMs: number | undefined;
  lastSeq: number | undefined;
  /**
   * The patient the gateway published that frame for; '' when it refused the frame (dead-lettered:
   * the device unassigned, the frame invalid, …). Tells the processor whether the device's newer
   * frames belong to a patient's stream at all (processor/silence-cause.ts). Optional: rows of
   * gateways before session 31 lack it.
   */
  lastFramePatientId?: string | undefined;
  /** `online` of the last status message (the Last Will says false). */
  reportedOnline: boolean | undefined;
  statusAtMs: number | undefined;
  fw: string | undefined;
  model: string | undefined;
  /** Percent 0–100; undefined when the device reports 255 (unknown) or never reported. */
  battery: number | undefined;
  charging: boolean | undefined;
  /** Smoothed device clock minus gateway clock, ms (see gateway/clock-skew.ts). */
  clockSkewMs: number | undefined;
  /** Skew of the last frame alone, ms. */
  lastClockSkewMs: number | undefined;
}

/** Liveness as read, with `online` derived from the connection and its gateway's heartbeat. */
export interface DeviceLivenessView extends DeviceLiveness {
  /**
   * Connected to a gateway that is itself alive (its heartbeat is fresh). A gateway that crashed
   * cannot write "disconnected"; its stale heartbeat turns its devices offline for readers.
   */
  online: boolean;
  /**
   * When this reader last heard the heartbeat of the device's gateway, on the READER's clock
   * (bus: when the heartbeat was folded here; SQLite: the heartbeat time, one machine). The
   * processor compares it with when its own last frame of the device arrived, to tell a silent
   * device from telemetry that cannot reach it (processor/silence-cause.ts). Absent when unknown.
   */
  gatewayHeardAtMs?: number;
  /**
   * Since when, on the READER's clock, the device's gateway has been up without interruption: the
   * first heartbeat after a gap of more than {@link GATEWAY_GAP_MS}, or the gateway's restart
   * (its {@link GATEWAY_RESTART_REASON} rows). A device whose connection the gateway's outage cut
   * needs time to reconnect after it; its silence is its own only once it had that time
   * (processor/silence-cause.ts). Absent when unknown (the SQLite store: one process).
   */
  gatewayUpSinceMs?: number;
}

/** The disconnect reason a gateway writes at start for the devices its crashed predecessor had connected. */
export const GATEWAY_RESTART_REASON = 'gateway_restart';

/** Heartbeats come about every second; a gap longer than this is an interruption (three missed). */
export const GATEWAY_GAP_MS = 3000;

/**
 * The liveness port (embedded: SQLite in the registry file; production: platform/registry/liveness-bus.ts).
 * Writes may be asynchronous (a bus publish); reads are synchronous.
 */
export interface DeviceLivenessStore {
  /** Writes whole liveness rows in one transaction and records the gateway's heartbeat. */
  write(gatewayId: string, rows: readonly DeviceLiveness[]): MaybePromise<void>;
  /**
   * Start-up of a gateway: devices it still shows as connected (it crashed or was killed) are
   * marked disconnected with `reason`.
   */
  resetGateway(gatewayId: string, reason: string): MaybePromise<void>;
  get(deviceId: string): DeviceLivenessView | undefined;
  list(): DeviceLivenessView[];
}

/**
 * A gateway the device left (it reconnected elsewhere, e.g. after a network change) notices the
 * old connection's end later and writes "disconnected": that must not hide the newer connection.
 */
export function supersededByNewerConnection(current: DeviceLiveness, incoming: DeviceLiveness): boolean {
  return current.connected && !incoming.connected && current.gatewayId !== incoming.gatewayId
    && (current.connectedAtMs ?? 0) > (incoming.connectedAtMs ?? 0);
}
