/**
 * What a simulated device makes of the cloud's commands (device-protocol.md "Commands"):
 * `config` changes the frame window and the ECG (on/off, rate) from the next frame on, and is
 * refused with a reason when a value is outside the contract; `fw_offer` is checked, the
 * firmware "downloaded" (a wall-clock delay proportional to its size), answered, and the device
 * then reboots into the new version (run-sim.ts does the reboot).
 */
import type { DeviceCommand, DeviceCommandResult } from './device.ts';
import { frameSettingsProblem, type FrameSettings } from './frames.ts';

/** The result of a `config` command: new settings, or the reason it was refused. */
export type ConfigOutcome = { ok: true; settings: FrameSettings; fsHz: number } | { ok: false; error: string };

/**
 * Applies a `config` command (`{frameMs, ecg, fs}`, each optional) to the current settings.
 * `fsHz` is the ECG rate to use when ECG is (turned) on; it is remembered while ECG is off.
 */
export function applyConfig(current: FrameSettings, fsHz: number, command: DeviceCommand): ConfigOutcome {
  const config = command.config;
  if (typeof config !== 'object' || config === null || Array.isArray(config)) return { ok: false, error: 'config must be an object' };
  const c = config as Record<string, unknown>;
  if (c.frameMs !== undefined && typeof c.frameMs !== 'number') return { ok: false, error: 'config.frameMs must be a number' };
  if (c.fs !== undefined && typeof c.fs !== 'number') return { ok: false, error: 'config.fs must be a number' };
  if (c.ecg !== undefined && typeof c.ecg !== 'boolean') return { ok: false, error: 'config.ecg must be true or false' };
  const frameMs = (c.frameMs as number | undefined) ?? current.frameMs;
  const nextFsHz = (c.fs as number | undefined) ?? fsHz;
  const ecgOn = (c.ecg as boolean | undefined) ?? current.ecgFsHz !== null;
  // With ECG off the rate is still checked (firmware stores it for when ECG comes back on), on
  // its own: a 100 ms window holds at most 100 samples, so only the rate's range can fail.
  const problem = ecgOn ? frameSettingsProblem(frameMs, nextFsHz) : (frameSettingsProblem(frameMs, null) ?? frameSettingsProblem(100, nextFsHz));
  if (problem) return { ok: false, error: problem };
  return { ok: true, settings: { frameMs, ecgFsHz: ecgOn ? nextFsHz : null }, fsHz: nextFsHz };
}

/** A checked `fw_offer`. */
export interface FirmwareOffer {
  version: string;
  sizeBytes: number;
}

/** Firmware versions as the registry accepts them (platform/registry/commands.ts). */
const VERSION_PATTERN = /^[0-9A-Za-z][0-9A-Za-z.+_-]{0,63}$/;

/** Checks an `fw_offer` against the running firmware version. */
export function checkFirmwareOffer(command: DeviceCommand, runningFw: string): { ok: true; offer: FirmwareOffer } | { ok: false; error: string } {
  const { version, size, url, sha256 } = command;
  if (typeof version !== 'string' || !VERSION_PATTERN.test(version)) return { ok: false, error: 'fw_offer.version must be 1–64 characters of letters, digits, . + _ -' };
  if (typeof size !== 'number' || !Number.isInteger(size) || size < 1 || size > 0xffffffff) return { ok: false, error: 'fw_offer.size must be an integer from 1 to 4294967295 bytes' };
  if (typeof url !== 'string' || !url.startsWith('https://')) return { ok: false, error: 'fw_offer.url must be an https:// URL' };
  if (typeof sha256 !== 'string' || !/^[0-9a-fA-F]{64}$/.test(sha256)) return { ok: false, error: 'fw_offer.sha256 must be 64 hexadecimal digits' };
  if (version === runningFw) return { ok: false, error: `firmware ${version} is already running` };
  return { ok: true, offer: { version, sizeBytes: size } };
}

/** Wall-clock time a simulated download of `sizeBytes` takes at `bytesPerSec`, ms. */
export function downloadMs(sizeBytes: number, bytesPerSec: number): number {
  return Math.round((sizeBytes / bytesPerSec) * 1000);
}

export type { DeviceCommand, DeviceCommandResult };
