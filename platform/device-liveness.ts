/**
 * Device liveness: is the device connected, when was it last heard from, what it reports about
 * itself on its retained status topic (firmware, model, battery, charging) and how far its clock
 * is from the gateway's (device-protocol.md "Status" and "Limits"). The gateway holds the live
 * state in memory and writes it here in batches (once a second); the dashboard API and the CLI,
 * other processes in production, read it from here.
 */
import type { MaybePromise } from './device-registry.ts';
import type { RegistryDb } from './registry-db.ts';

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
}

/**
 * The liveness port (embedded: SQLite in the registry file; production: platform/device-liveness-bus.ts).
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

interface Row {
  device_id: string; connected: number; gateway_id: string | null;
  connected_at: number | null; disconnected_at: number | null; disconnect_reason: string | null;
  last_seen_at: number | null; last_frame_at: number | null; last_seq: number | null;
  reported_online: number | null; status_at: number | null;
  fw: string | null; model: string | null; battery: number | null; charging: number | null;
  clock_skew_ms: number | null; last_clock_skew_ms: number | null;
  heartbeat_at: number | null;
}

export interface SqliteDeviceLivenessOptions {
  /** A gateway whose heartbeat is older than this is taken as gone. Default 10 s (10 flushes). */
  gatewayStaleAfterMs?: number;
}

const SELECT = `SELECT l.*, g.heartbeat_at FROM device_liveness l LEFT JOIN gateway_instance g ON g.gateway_id = l.gateway_id`;

const opt = <T>(v: T | null): T | undefined => (v === null ? undefined : v);
const optBool = (v: number | null): boolean | undefined => (v === null ? undefined : v === 1);
const bit = (v: boolean | undefined): number | null => (v === undefined ? null : v ? 1 : 0);

export class SqliteDeviceLivenessStore implements DeviceLivenessStore {
  readonly #db: RegistryDb;
  readonly #staleAfterMs: number;

  constructor(db: RegistryDb, options: SqliteDeviceLivenessOptions = {}) {
    this.#db = db;
    this.#staleAfterMs = options.gatewayStaleAfterMs ?? 10_000;
  }

  write(gatewayId: string, rows: readonly DeviceLiveness[]): void {
    const now = this.#db.now();
    this.#db.transaction(() => {
      this.#db.stmt('INSERT INTO gateway_instance VALUES (?, ?) ON CONFLICT(gateway_id) DO UPDATE SET heartbeat_at = excluded.heartbeat_at').run(gatewayId, now);
      const upsert = this.#db.stmt(`INSERT OR REPLACE INTO device_liveness VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`);
      for (const l of rows) {
        const current = this.#db.stmt('SELECT connected, gateway_id, connected_at FROM device_liveness WHERE device_id = ?').get(l.deviceId) as
          | { connected: number; gateway_id: string | null; connected_at: number | null }
          | undefined;
        if (current && supersededByNewerConnection(
          { ...l, connected: current.connected === 1, gatewayId: current.gateway_id ?? undefined, connectedAtMs: current.connected_at ?? undefined }, l)) continue;
        upsert.run(
          l.deviceId, l.connected ? 1 : 0, l.gatewayId ?? null,
          l.connectedAtMs ?? null, l.disconnectedAtMs ?? null, l.disconnectReason ?? null,
          l.lastSeenMs ?? null, l.lastFrameAtMs ?? null, l.lastSeq ?? null,
          bit(l.reportedOnline), l.statusAtMs ?? null,
          l.fw ?? null, l.model ?? null, l.battery ?? null, bit(l.charging),
          l.clockSkewMs ?? null, l.lastClockSkewMs ?? null,
          now,
        );
      }
    });
  }

  resetGateway(gatewayId: string, reason: string): void {
    const now = this.#db.now();
    this.#db.transaction(() => {
      this.#db.stmt('UPDATE device_liveness SET connected = 0, disconnected_at = ?, disconnect_reason = ?, updated_at = ? WHERE gateway_id = ? AND connected = 1')
        .run(now, reason, now, gatewayId);
      this.#db.stmt('INSERT INTO gateway_instance VALUES (?, ?) ON CONFLICT(gateway_id) DO UPDATE SET heartbeat_at = excluded.heartbeat_at').run(gatewayId, now);
    });
  }

  get(deviceId: string): DeviceLivenessView | undefined {
    const row = this.#db.stmt(`${SELECT} WHERE l.device_id = ?`).get(deviceId) as Row | undefined;
    return row && this.#view(row);
  }

  list(): DeviceLivenessView[] {
    return (this.#db.stmt(`${SELECT} ORDER BY l.device_id`).all() as unknown as Row[]).map((r) => this.#view(r));
  }

  #view(r: Row): DeviceLivenessView {
    const connected = r.connected === 1;
    const gatewayAlive = r.heartbeat_at !== null && this.#db.now() - r.heartbeat_at <= this.#staleAfterMs;
    return {
      deviceId: r.device_id,
      online: connected && gatewayAlive,
      connected,
      gatewayId: opt(r.gateway_id),
      connectedAtMs: opt(r.connected_at),
      disconnectedAtMs: opt(r.disconnected_at),
      disconnectReason: opt(r.disconnect_reason),
      lastSeenMs: opt(r.last_seen_at),
      lastFrameAtMs: opt(r.last_frame_at),
      lastSeq: opt(r.last_seq),
      reportedOnline: optBool(r.reported_online),
      statusAtMs: opt(r.status_at),
      fw: opt(r.fw),
      model: opt(r.model),
      battery: opt(r.battery),
      charging: optBool(r.charging),
      clockSkewMs: opt(r.clock_skew_ms),
      lastClockSkewMs: opt(r.last_clock_skew_ms),
    };
  }
}
