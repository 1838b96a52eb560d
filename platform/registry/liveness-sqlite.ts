/** Device liveness in the embedded registry's SQLite file (the port and rules: ./liveness.ts). */
import type { RegistryDb } from './db.ts';
import { supersededByNewerConnection, type DeviceLiveness, type DeviceLivenessStore, type DeviceLivenessView } from './liveness.ts';

interface Row {
  device_id: string; connected: number; gateway_id: string | null;
  connected_at: number | null; disconnected_at: number | null; disconnect_reason: string | null;
  last_seen_at: number | null; last_frame_at: number | null; last_seq: number | null;
  reported_online: number | null; status_at: number | null;
  fw: string | null; model: string | null; battery: number | null; charging: number | null;
  clock_skew_ms: number | null; last_clock_skew_ms: number | null;
  last_frame_patient: string | null;
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
      const upsert = this.#db.stmt(`INSERT OR REPLACE INTO device_liveness (device_id, connected, gateway_id, connected_at, disconnected_at, disconnect_reason,
        last_seen_at, last_frame_at, last_seq, reported_online, status_at, fw, model, battery, charging, clock_skew_ms, last_clock_skew_ms,
        updated_at, last_frame_patient) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`);
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
          now, l.lastFramePatientId ?? null,
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
      ...(r.heartbeat_at !== null ? { gatewayHeardAtMs: r.heartbeat_at } : {}),
      connected,
      gatewayId: opt(r.gateway_id),
      connectedAtMs: opt(r.connected_at),
      disconnectedAtMs: opt(r.disconnected_at),
      disconnectReason: opt(r.disconnect_reason),
      lastSeenMs: opt(r.last_seen_at),
      lastFrameAtMs: opt(r.last_frame_at),
      lastSeq: opt(r.last_seq),
      ...(r.last_frame_patient !== null ? { lastFramePatientId: r.last_frame_patient } : {}),
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
