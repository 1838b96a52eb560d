/**
 * Device liveness on the bus (Kafka in production): gateways on any host write, the dashboard API
 * and the CLI read, with no database to share. The stream `pb.device-liveness.v1` is compacted
 * and keyed `device/{id}/{gateway}` (each gateway's latest view of the device) and
 * `gateway/{id}` (each gateway's heartbeat); every reader folds it into memory. A gateway writes
 * once per flush (~1 s), so the stream's rate is bounded by devices whose liveness changed, not
 * by frames.
 *
 * Same reading rules as the SQLite store: a device is `online` while connected to a gateway whose
 * heartbeat is fresh. With several gateways a device is shown as its most recent connection's
 * gateway sees it, so the late "disconnected" of a gateway the device left never hides the newer
 * connection — also after compaction, because each gateway's view is kept under its own key.
 */
import { randomUUID } from 'node:crypto';
import type { Bus } from '../bus/index.ts';
import { BusFollower } from '../bus/index.ts';
import { GATEWAY_GAP_MS, GATEWAY_RESTART_REASON, type DeviceLiveness, type DeviceLivenessStore, type DeviceLivenessView } from './liveness.ts';
import type { Logger } from '../log.ts';

export const DEVICE_LIVENESS_STREAM = 'pb.device-liveness.v1';

interface LivenessMessage { schema: 'pb.device-liveness.v1'; row: DeviceLiveness }
/**
 * A gateway's heartbeat, keyed `gateway/{id}`, written with every flush (~1 s): `atMs` is the
 * gateway's wall clock (the dashboard API compares it with its own: dashboard-api/operator-alarms.ts).
 * `nonce`: the writer waits until it folded its own heartbeat (the last message of its batch).
 */
export interface GatewayHeartbeat { schema: 'pb.gateway-heartbeat.v1'; gatewayId: string; atMs: number; nonce?: string }

/** The key prefix of gateway heartbeats on {@link DEVICE_LIVENESS_STREAM} (rows are `device/…`). */
export const GATEWAY_HEARTBEAT_KEY_PREFIX = 'gateway/';

export function isGatewayHeartbeat(v: unknown): v is GatewayHeartbeat {
  const h = v as Partial<GatewayHeartbeat> | undefined;
  return h?.schema === 'pb.gateway-heartbeat.v1' && typeof h.gatewayId === 'string' && typeof h.atMs === 'number';
}

export interface BusDeviceLivenessOptions {
  bus: Bus;
  logger: Logger;
  now?: () => number;
  /** A gateway whose heartbeat is older than this is taken as gone. Default 10 s (10 flushes). */
  gatewayStaleAfterMs?: number;
  groupId?: string;
  /** How long a write waits to see its own heartbeat folded, ms (BusFollower default 10 s). */
  visibleTimeoutMs?: number;
}

/** JSON drops `undefined` fields; a row read back has every field again. */
function completeRow(r: DeviceLiveness): DeviceLiveness {
  return {
    deviceId: r.deviceId, connected: r.connected, gatewayId: r.gatewayId, connectedAtMs: r.connectedAtMs, disconnectedAtMs: r.disconnectedAtMs,
    disconnectReason: r.disconnectReason, lastSeenMs: r.lastSeenMs, lastFrameAtMs: r.lastFrameAtMs, lastSeq: r.lastSeq,
    ...(r.lastFramePatientId !== undefined ? { lastFramePatientId: r.lastFramePatientId } : {}),
    reportedOnline: r.reportedOnline, statusAtMs: r.statusAtMs, fw: r.fw, model: r.model, battery: r.battery, charging: r.charging,
    clockSkewMs: r.clockSkewMs, lastClockSkewMs: r.lastClockSkewMs,
  };
}

export class BusDeviceLivenessStore implements DeviceLivenessStore {
  readonly #now: () => number;
  readonly #staleAfterMs: number;
  /** Per device, each gateway's latest row. */
  readonly #rows = new Map<string, Map<string, DeviceLiveness>>();
  readonly #heartbeats = new Map<string, number>();
  /** Per gateway, when its latest heartbeat was folded here (this reader's clock). */
  readonly #heardAt = new Map<string, number>();
  /** Per gateway, since when it has been up without interruption (this reader's clock; DeviceLivenessView.gatewayUpSinceMs). */
  readonly #upSince = new Map<string, number>();
  #follower: BusFollower | undefined;

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
      onMessage: (value) => store.#fold(value as LivenessMessage | GatewayHeartbeat),
      ...(options.groupId ? { groupId: options.groupId } : {}),
      ...(options.visibleTimeoutMs !== undefined ? { visibleTimeoutMs: options.visibleTimeoutMs } : {}),
    });
    return store;
  }

  /** Publishes the rows and the gateway's heartbeat; resolves once they are visible to this instance's reads. */
  async write(gatewayId: string, rows: readonly DeviceLiveness[]): Promise<void> {
    const follower = this.#follower!;
    const heartbeat: GatewayHeartbeat = { schema: 'pb.gateway-heartbeat.v1', gatewayId, atMs: this.#now(), nonce: randomUUID() };
    const folded = follower.expect(heartbeat.nonce!);
    try {
      await follower.publishAll([
        ...rows.map((r) => {
          const row = { ...r, gatewayId: r.gatewayId ?? gatewayId };
          return { key: `device/${row.deviceId}/${row.gatewayId}`, value: { schema: 'pb.device-liveness.v1', row } satisfies LivenessMessage };
        }),
        { key: `${GATEWAY_HEARTBEAT_KEY_PREFIX}${gatewayId}`, value: heartbeat },
      ]);
    } catch (err) {
      follower.settle(heartbeat.nonce!, false);
      throw err;
    }
    await folded;
  }

  async resetGateway(gatewayId: string, reason: string): Promise<void> {
    const now = this.#now();
    const stale = [...this.#rows.values()]
      .map((byGateway) => byGateway.get(gatewayId))
      .filter((r): r is DeviceLiveness => r?.connected === true)
      .map((r) => ({ ...r, connected: false, disconnectedAtMs: now, disconnectReason: reason }));
    await this.write(gatewayId, stale);
  }

  get(deviceId: string): DeviceLivenessView | undefined {
    const row = this.#current(deviceId);
    return row && this.#view(row);
  }

  list(): DeviceLivenessView[] {
    return [...this.#rows.keys()].sort().map((id) => this.#view(this.#current(id)!));
  }

  /** Resolves once everything written before the call (by any gateway) is visible here. */
  sync(): Promise<void> {
    return this.#follower!.sync();
  }

  async close(): Promise<void> {
    await this.#follower?.close();
  }

  /** The row of the device's most recent connection (ties: the latest written). */
  #current(deviceId: string): DeviceLiveness | undefined {
    let best: DeviceLiveness | undefined;
    for (const row of this.#rows.get(deviceId)?.values() ?? []) {
      if (!best || (row.connectedAtMs ?? 0) >= (best.connectedAtMs ?? 0)) best = row;
    }
    return best;
  }

  #fold(m: LivenessMessage | GatewayHeartbeat): void {
    if (m?.schema === 'pb.gateway-heartbeat.v1') {
      this.#heartbeats.set(m.gatewayId, m.atMs);
      // The reader's clock, not the gateway's: no clock skew between hosts enters the comparison.
      const now = this.#now();
      const previous = this.#heardAt.get(m.gatewayId);
      if (previous === undefined || now - previous > GATEWAY_GAP_MS) this.#upSince.set(m.gatewayId, now);
      this.#heardAt.set(m.gatewayId, now);
      // Unset during the initial replay inside BusFollower.open; nobody waits then.
      if (m.nonce) this.#follower?.settle(m.nonce, true);
    } else if (m?.schema === 'pb.device-liveness.v1' && typeof m.row?.deviceId === 'string') {
      const row = completeRow(m.row);
      // A gateway that restarted quickly (its heartbeats barely paused) says so with these rows.
      if (!row.connected && row.disconnectReason === GATEWAY_RESTART_REASON && row.gatewayId !== undefined) this.#upSince.set(row.gatewayId, this.#now());
      let byGateway = this.#rows.get(row.deviceId);
      if (!byGateway) this.#rows.set(row.deviceId, (byGateway = new Map()));
      // Re-inserted: iteration order is write order, which breaks ties in #current.
      byGateway.delete(row.gatewayId ?? '');
      byGateway.set(row.gatewayId ?? '', row);
    }
  }

  #view(row: DeviceLiveness): DeviceLivenessView {
    const heartbeat = row.gatewayId === undefined ? undefined : this.#heartbeats.get(row.gatewayId);
    const gatewayAlive = heartbeat !== undefined && this.#now() - heartbeat <= this.#staleAfterMs;
    const heardAt = row.gatewayId === undefined ? undefined : this.#heardAt.get(row.gatewayId);
    const upSince = row.gatewayId === undefined ? undefined : this.#upSince.get(row.gatewayId);
    return {
      ...row, online: row.connected && gatewayAlive,
      ...(heardAt !== undefined ? { gatewayHeardAtMs: heardAt } : {}),
      ...(upSince !== undefined ? { gatewayUpSinceMs: upSince } : {}),
    };
  }
}
