/**
 * The gateway's live view of its devices: connection events, last-seen time (every packet),
 * status and Last Will, battery and charging (status and telemetry), and clock skew. Held in
 * memory on the hot path and written to the {@link DeviceLivenessStore} in one batch per
 * `flush()` (the gateway flushes every poll tick, ~1 s), so a frame costs no database write.
 */
import type { TelemetryFrame } from '../contracts/telemetry.ts';
import { GATEWAY_RESTART_REASON, type DeviceLiveness, type DeviceLivenessStore } from '../platform/registry/index.ts';
import type { Logger } from '../platform/log.ts';
import type { Metric } from '../platform/metrics.ts';
import { ClockSkewEstimator, skewSampleMs, type ClockSkewOptions } from './clock-skew.ts';
import type { DeviceStatus } from './device-status.ts';

/** Battery value meaning "unknown" (device-protocol.md "Telemetry frame"). */
const BATTERY_UNKNOWN = 255;

interface Tracked {
  row: DeviceLiveness;
  skew: ClockSkewEstimator;
}

export interface LivenessTrackerOptions {
  store: DeviceLivenessStore;
  gatewayId: string;
  logger: Logger;
  /** Gauge `pb_gateway_device_clock_skew_seconds{device}`. */
  skewGauge: Metric;
  skew?: Partial<ClockSkewOptions>;
  now?: () => number;
}

export class LivenessTracker {
  readonly #o: LivenessTrackerOptions;
  readonly #now: () => number;
  readonly #devices = new Map<string, Tracked>();
  readonly #dirty = new Set<string>();

  constructor(options: LivenessTrackerOptions) {
    this.#o = options;
    this.#now = options.now ?? Date.now;
  }

  /** A crashed predecessor could not record its devices' disconnections: do it now. */
  async start(): Promise<void> {
    await this.#o.store.resetGateway(this.#o.gatewayId, GATEWAY_RESTART_REASON);
  }

  connected(deviceId: string): void {
    const now = this.#now();
    const t = this.#track(deviceId);
    Object.assign(t.row, { connected: true, gatewayId: this.#o.gatewayId, connectedAtMs: now, disconnectReason: undefined, lastSeenMs: now });
    this.#dirty.add(deviceId);
  }

  disconnected(deviceId: string, reason: string): void {
    const t = this.#devices.get(deviceId);
    if (!t) return;
    Object.assign(t.row, { connected: false, disconnectedAtMs: this.#now(), disconnectReason: reason });
    this.#dirty.add(deviceId);
  }

  /** Any packet from the device (ping, command result). */
  seen(deviceId: string): void {
    const t = this.#devices.get(deviceId);
    if (!t) return;
    t.row.lastSeenMs = this.#now();
    this.#dirty.add(deviceId);
  }

  status(deviceId: string, status: DeviceStatus): void {
    const now = this.#now();
    const t = this.#track(deviceId);
    const r = t.row;
    r.reportedOnline = status.online;
    r.statusAtMs = now;
    // The Last Will arrives after the connection is gone: it is not a sign of life.
    if (status.online) r.lastSeenMs = now;
    if (status.fw !== undefined) r.fw = status.fw;
    if (status.model !== undefined) r.model = status.model;
    if (status.battery !== undefined) r.battery = status.battery === BATTERY_UNKNOWN ? undefined : status.battery;
    if (status.charging !== undefined) r.charging = status.charging;
    this.#dirty.add(deviceId);
  }

  /** A telemetry frame, published for `patientId`, or refused ('': dead-lettered). */
  frame(deviceId: string, frame: TelemetryFrame, receivedAtMs: number, patientId: string): void {
    const t = this.#track(deviceId);
    const r = t.row;
    r.lastSeenMs = receivedAtMs;
    r.lastFrameAtMs = receivedAtMs;
    r.lastSeq = frame.seq;
    r.lastFramePatientId = patientId;
    r.battery = frame.battery === BATTERY_UNKNOWN ? undefined : frame.battery;
    if (frame.charging !== undefined) r.charging = frame.charging;
    const sample = skewSampleMs(frame, receivedAtMs);
    r.lastClockSkewMs = sample;
    r.clockSkewMs = Math.round(t.skew.update(sample) * 10) / 10;
    this.#o.skewGauge.set({ device: deviceId }, r.clockSkewMs / 1000);
    this.#dirty.add(deviceId);
  }

  /** The in-memory view of a device (tests, diagnostics). */
  get(deviceId: string): DeviceLiveness | undefined {
    const t = this.#devices.get(deviceId);
    return t && { ...t.row };
  }

  /** Writes every changed device in one transaction (and heart-beats the gateway). */
  async flush(): Promise<void> {
    const rows = [...this.#dirty].map((id) => ({ ...this.#devices.get(id)!.row }));
    this.#dirty.clear();
    try {
      await this.#o.store.write(this.#o.gatewayId, rows);
    } catch (err) {
      for (const r of rows) this.#dirty.add(r.deviceId);
      throw err;
    }
    // Disconnected devices need no memory once written.
    for (const r of rows) if (!r.connected && !this.#dirty.has(r.deviceId)) this.#devices.delete(r.deviceId);
  }

  #track(deviceId: string): Tracked {
    let t = this.#devices.get(deviceId);
    if (!t) {
      // Seed from the store: firmware, model and skew survive reconnects and gateway restarts.
      let stored;
      try {
        stored = this.#o.store.get(deviceId);
      } catch (err) {
        // Called from aedes event handlers: a busy database must not throw into the broker.
        this.#o.logger.warn('stored liveness could not be read; starting afresh', { deviceId, err: err as Error });
      }
      const row: DeviceLiveness = stored
        ? { ...stored }
        : {
          deviceId, connected: false, gatewayId: this.#o.gatewayId, connectedAtMs: undefined, disconnectedAtMs: undefined, disconnectReason: undefined,
          lastSeenMs: undefined, lastFrameAtMs: undefined, lastSeq: undefined, reportedOnline: undefined, statusAtMs: undefined,
          fw: undefined, model: undefined, battery: undefined, charging: undefined, clockSkewMs: undefined, lastClockSkewMs: undefined,
        };
      delete (row as Partial<{ online: boolean }>).online;
      t = { row, skew: new ClockSkewEstimator(this.#o.skew, row.clockSkewMs) };
      this.#devices.set(deviceId, t);
    }
    return t;
  }
}
