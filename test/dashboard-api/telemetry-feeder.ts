/**
 * Paced telemetry for browser tests: each simulated device's frames (the simulator's frame
 * builder with synthetic ECG) are published on the telemetry stream when their device time has
 * passed on the wall clock, as the gateway would after a device sent them. A device can go
 * silent. Device time = wall time, so "no data for N s" and signal loss are real.
 */
import type { TelemetryFrame, TelemetryRecord } from '../../contracts/telemetry.ts';
import { STREAMS } from '../../contracts/topics.ts';
import { syntheticEcgSource } from '../../device-sim/ecg-synth.ts';
import { buildFrames, type TimedBeat } from '../../device-sim/frames.ts';
import type { Bus } from '../../platform/bus/index.ts';

export interface FedDevice {
  patientId: string;
  deviceId: string;
  /** Beats from t0 on (device time ms), e.g. {@link rhythmBeats}. */
  beats: Iterable<TimedBeat>;
  battery?: number;
}

/** Beats at `rrMs` from t0, with optional silences [startMs, durationMs) after t0 (an asystole). */
export function* rhythmBeats(t0Ms: number, rrMs: number, gaps: { afterMs: number; durationMs: number }[] = []): Generator<TimedBeat> {
  let t = t0Ms - rrMs;
  for (;;) {
    t += rrMs;
    const gap = gaps.find((g) => t > t0Ms + g.afterMs && t < t0Ms + g.afterMs + g.durationMs);
    if (gap) t = t0Ms + gap.afterMs + gap.durationMs;
    yield { tMs: t, cls: 'N' };
  }
}

export class TelemetryFeeder {
  readonly #bus: Bus;
  readonly #devices = new Map<string, { d: FedDevice; frames: Generator<TelemetryFrame>; next: TelemetryFrame; silent: boolean }>();
  #timer: NodeJS.Timeout | undefined;
  #busy = false;

  constructor(bus: Bus, t0Ms: number, devices: FedDevice[]) {
    this.#bus = bus;
    devices.forEach((d, i) => {
      const frames = buildFrames(d.beats, { t0Ms, battery: d.battery ?? 80, ecg: syntheticEcgSource(11 + i), ecgFsHz: 250 });
      this.#devices.set(d.deviceId, { d, frames, next: frames.next().value as TelemetryFrame, silent: false });
    });
  }

  start(periodMs = 200): void {
    this.#timer = setInterval(() => void this.#tick(), periodMs);
  }

  /** The device stops sending (a dead battery, out of range). */
  silence(deviceId: string): void {
    this.#devices.get(deviceId)!.silent = true;
  }

  stop(): void {
    clearInterval(this.#timer);
  }

  async #tick(): Promise<void> {
    if (this.#busy) return;
    this.#busy = true;
    try {
      const now = Date.now();
      const out: { key: string; value: Buffer }[] = [];
      for (const dev of this.#devices.values()) {
        while (dev.next.ts + dev.next.durMs <= now) {
          if (!dev.silent) {
            const record: TelemetryRecord = { schema: 'pb.telemetry.v1', deviceId: dev.d.deviceId, patientId: dev.d.patientId, format: 'json-v1', receivedAt: now, frame: dev.next };
            out.push({ key: dev.d.patientId, value: Buffer.from(JSON.stringify(record)) });
          }
          dev.next = dev.frames.next().value as TelemetryFrame;
        }
      }
      if (out.length > 0) await this.#bus.publish(STREAMS.telemetry, out);
    } finally {
      this.#busy = false;
    }
  }
}
