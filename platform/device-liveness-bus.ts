/**
 * Device liveness on the bus (Kafka in production): gateways on any host write, the dashboard API
 * and the CLI read, with no database to share. The stream `pb.device-liveness.v1` is compacted
 * and keyed `device/{id}` (the latest row of each device) and `gateway/{id}` (each gateway's
 * heartbeat); every reader folds it into memory. A gateway writes once per flush (~1 s), so the
 * stream's rate is bounded by devices whose liveness changed, not by frames.
 *
 * Same reading rules as the SQLite store: a device is `online` while connected to a gateway whose
 * heartbeat is fresh. One more rule matters with several gateways: a device that moved to another
 * gateway is not marked disconnected by the late "disconnected" of the gateway it left.
 */
import type { Bus } from './bus.ts';
import { BusFollower } from './bus-follower.ts';
import { supersededByNewerConnection, type DeviceLiveness, type DeviceLivenessStore, type DeviceLivenessView } from './device-liveness.ts';
import type { Logger } from './log.ts';

export const DEVICE_LIVENESS_STREAM = 'pb.device-liveness.v1';

interface LivenessMessage { schema: 'pb.device-liveness.v1'; row: DeviceLiveness }
interface HeartbeatMessage { schema: 'pb.gateway-heartbeat.v1'; gatewayId: string; atMs: number }

export interface BusDeviceLivenessOptions {
  bus: Bus;
  logger: Logger;
  now?: () => number;
  /** A gateway whose heartbeat is older than this is taken as gone. Default 10 s (10 flushes). */
  gatewayStaleAfterMs?: number;
  groupId?: string;
}

/** JSON drops `undefined` fields; a row read back has every field again. */
function completeRow(r: DeviceLiveness): DeviceLiveness {
  return {
    deviceId: r.deviceId, connected: r.connected, gatewayId: r.gatewayId, connectedAtMs: r.connectedAtMs, disconnectedAtMs: r.disconnectedAtMs,
    disconnectReason: r.disconnectReason, lastSeenMs: r.lastSeenMs, lastFrameAtMs: r.lastFrameAtMs, lastSeq: r.lastSeq,
    reportedOnline: r.reportedOnline, statusAtMs: r.statusAtMs, fw: r.fw, model: r.model, battery: r.battery, charging: r.charging,
    clockSkewMs: r.clockSkewMs, lastClockSkewMs: r.lastClockSkewMs,
  };
}

export class BusDeviceLivenessStore implements DeviceLivenessStore {
  readonly #now: () => number;
  readonly #staleAfterMs: number;
  readonly #rows = new Map<string, DeviceLiveness>();
  readonly #heartbeats = new Map<string, number>();
  #follower!: BusFollower;

  private constructor(options: BusDeviceLivenessOptions) {
    this.#now = options.now ?? Date.now;
    this.#staleAfterMs = options.gatewayStaleAfterMs ?? 10_000;
  }

  /** Creates the stream if needed, replays it and resolves once caught up. */
  static async open(options: BusDeviceLivenessOptions): Promise<BusDeviceLivenessStore> {
    const store = new BusDeviceLivenessStore(options);
    store.#follower = await BusFollower.open({
      bus: options.bus,
      stream: { name: DEVICE_LIVENESS_STREAM, partitions: 1, compacted: true },
      logger: options.logger,
      onMessage: (value) => store.#fold(value as LivenessMessage | HeartbeatMessage),
      ...(options.groupId ? { groupId: options.groupId } : {}),
    });
    return store;
  }

  async write(gatewayId: string, rows: readonly DeviceLiveness[]): Promise<void> {
    const heartbeat: HeartbeatMessage = { schema: 'pb.gateway-heartbeat.v1', gatewayId, atMs: this.#now() };
    await this.#follower.publishAll([
      ...rows.map((row) => ({ key: `device/${row.deviceId}`, value: { schema: 'pb.device-liveness.v1', row } satisfies LivenessMessage })),
      { key: `gateway/${gatewayId}`, value: heartbeat },
    ]);
  }

  async resetGateway(gatewayId: string, reason: string): Promise<void> {
    const now = this.#now();
    const stale = [...this.#rows.values()]
      .filter((r) => r.gatewayId === gatewayId && r.connected)
      .map((r) => ({ ...r, connected: false, disconnectedAtMs: now, disconnectReason: reason }));
    await this.write(gatewayId, stale);
  }

  get(deviceId: string): DeviceLivenessView | undefined {
    const row = this.#rows.get(deviceId);
    return row && this.#view(row);
  }

  list(): DeviceLivenessView[] {
    return [...this.#rows.keys()].sort().map((id) => this.#view(this.#rows.get(id)!));
  }

  /** Resolves once everything written before the call (by any gateway) is visible here. */
  sync(): Promise<void> {
    return this.#follower.sync();
  }

  close(): Promise<void> {
    return this.#follower.close();
  }

  #fold(m: LivenessMessage | HeartbeatMessage): void {
    if (m?.schema === 'pb.gateway-heartbeat.v1') {
      this.#heartbeats.set(m.gatewayId, m.atMs);
    } else if (m?.schema === 'pb.device-liveness.v1' && typeof m.row?.deviceId === 'string') {
      const incoming = completeRow(m.row);
      const current = this.#rows.get(incoming.deviceId);
      if (current && supersededByNewerConnection(current, incoming)) return;
      this.#rows.set(incoming.deviceId, incoming);
    }
  }

  #view(row: DeviceLiveness): DeviceLivenessView {
    const heartbeat = row.gatewayId === undefined ? undefined : this.#heartbeats.get(row.gatewayId);
    const gatewayAlive = heartbeat !== undefined && this.#now() - heartbeat <= this.#staleAfterMs;
    return { ...row, online: row.connected && gatewayAlive };
  }
}
