/**
 * Which wire format each simulated device speaks (device-protocol.md "v1: JSON", "v2: binary"):
 * all JSON v1, all binary v2, or a mix in which half of the devices, chosen by the seed, send v2
 * — a fleet in the middle of a firmware roll-out.
 */
import type { TelemetryFrame } from '../contracts/telemetry.ts';
import { PulsebridgeError } from '../platform/errors.ts';
import { encodeV2 } from './encode-v2.ts';
import { encodeV1 } from './frames.ts';
import { createPrng, seedFromString } from './prng.ts';

/** The format one device speaks. */
export type WireFormat = 'v1' | 'v2';
/** The `--format` choice: one format for every device, or `mix`. */
export type WireFormatChoice = WireFormat | 'mix';

export const WIRE_FORMAT_CHOICES: readonly WireFormatChoice[] = ['v1', 'v2', 'mix'];

/** Checks a `--format` value. */
export function parseWireFormat(text: string): WireFormatChoice {
  if ((WIRE_FORMAT_CHOICES as readonly string[]).includes(text)) return text as WireFormatChoice;
  throw new PulsebridgeError('PB_SIM_FAILED', `Wire format must be one of ${WIRE_FORMAT_CHOICES.join(', ')}, got "${text}".`);
}

/**
 * The format of each device, in the order of `deviceIds`. `mix`: the devices are ranked by a
 * number drawn from (seed, device id); the first ⌊n/2⌋ speak v2, the last ones v1, and with an
 * odd count the middle device tosses a coin. So exactly half (±1) of the devices speak v2, a
 * device keeps its format for the same seed, and a single device is v1 or v2 by its coin.
 */
export function deviceWireFormats(choice: WireFormatChoice, deviceIds: readonly string[], seed: number | string = 1): WireFormat[] {
  if (choice !== 'mix') return deviceIds.map(() => choice);
  const keys = deviceIds.map((id) => createPrng(seedFromString(`${seed}:${id}:format`))());
  const rank = deviceIds.map((_, i) => i).sort((a, b) => keys[a]! - keys[b]! || a - b);
  const formats = new Array<WireFormat>(deviceIds.length).fill('v1');
  const half = Math.floor(deviceIds.length / 2);
  rank.forEach((device, position) => {
    if (position < half) formats[device] = 'v2';
    else if (deviceIds.length % 2 === 1 && position === half) formats[device] = keys[device]! < 0.5 ? 'v2' : 'v1';
  });
  return formats;
}

/** The encoder of a format. */
export function encoderOf(format: WireFormat): (frame: TelemetryFrame) => Buffer {
  return format === 'v2' ? encodeV2 : encodeV1;
}
