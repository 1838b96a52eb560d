/**
 * A simulated device's clock: true time plus a fixed offset, running fast or slow by a drift in
 * parts per million (a crystal's tolerance; ±20–50 ppm is typical for wearables' 32 kHz
 * crystals, i.e. up to 4 s a day). The device stamps frames (`ts`) and beats with its own
 * clock; the ground truth stays in true time, so times are converted both ways.
 *
 * deviceMs = deviceT0 + (trueMs − trueT0) × (1 + ppm / 10⁶), deviceT0 = trueT0 + offsetMs.
 */
import { PulsebridgeError } from '../platform/errors.ts';

/** Offset and drift of one device's clock. */
export interface DeviceClockSpec {
  /** Device clock minus true time at the start, ms (positive = ahead). */
  offsetMs: number;
  /** How much faster the device clock runs, parts per million (negative = slower). */
  driftPpm: number;
}

/** Largest drift accepted, ppm (1 %: far beyond any crystal, still keeps the arithmetic sane). */
export const MAX_DRIFT_PPM = 10_000;

export class DeviceClock {
  readonly trueT0Ms: number;
  readonly deviceT0Ms: number;
  readonly spec: Readonly<DeviceClockSpec>;
  readonly #rate: number;

  /** @throws PulsebridgeError `PB_SIM_FAILED` for a non-integer offset or a drift beyond ±{@link MAX_DRIFT_PPM} ppm */
  constructor(trueT0Ms: number, spec: Partial<DeviceClockSpec> = {}) {
    const offsetMs = spec.offsetMs ?? 0;
    const driftPpm = spec.driftPpm ?? 0;
    if (!Number.isSafeInteger(offsetMs)) throw new PulsebridgeError('PB_SIM_FAILED', `Clock offset must be an integer number of ms, got ${offsetMs}.`);
    if (!Number.isFinite(driftPpm) || Math.abs(driftPpm) > MAX_DRIFT_PPM) {
      throw new PulsebridgeError('PB_SIM_FAILED', `Clock drift must be within ±${MAX_DRIFT_PPM} ppm, got ${driftPpm}.`);
    }
    this.trueT0Ms = trueT0Ms;
    this.deviceT0Ms = trueT0Ms + offsetMs;
    this.spec = { offsetMs, driftPpm };
    this.#rate = 1 + driftPpm / 1e6;
  }

  /** Device clock reading at a true time, ms (not rounded). */
  toDevice(trueMs: number): number {
    return this.deviceT0Ms + (trueMs - this.trueT0Ms) * this.#rate;
  }

  /** True time at a device clock reading, ms (not rounded). */
  toTrue(deviceMs: number): number {
    return this.trueT0Ms + (deviceMs - this.deviceT0Ms) / this.#rate;
  }
}
