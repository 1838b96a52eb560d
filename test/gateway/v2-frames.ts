/**
 * Shared by the v2 decoder tests: fast-check arbitraries for valid telemetry frames, byte
 * mutations, and a CRC fixer for building frames that are intact but break one field.
 */
import { crc32 } from 'node:zlib';
import fc from 'fast-check';
import { BEAT_CLASSES, FRAME_LIMITS, type Beat, type TelemetryFrame } from '../../contracts/telemetry.ts';

export interface FrameArbOptions {
  /** Arbitrary for `ts`; default: any safe integer. */
  ts?: fc.Arbitrary<number>;
  /** Fewest beats (default 0). */
  minBeats?: number;
  /** Force ECG present (true), absent (false) or either (undefined). */
  ecg?: boolean;
}

const beatArb = (durMs: number): fc.Arbitrary<Beat> =>
  fc.record({ off: fc.integer({ min: 0, max: durMs - 1 }), rr: fc.integer({ min: 0, max: 0xffff }), cls: fc.constantFrom(...BEAT_CLASSES) });

const ecgArb = (durMs: number) =>
  fc.integer({ min: FRAME_LIMITS.minFsHz, max: FRAME_LIMITS.maxFsHz }).chain((fs) => {
    const m = Math.floor((fs * durMs) / 1000);
    return fc.record({ fs: fc.constant(fs), uV: fc.array(fc.integer({ min: -0x8000, max: 0x7fff }), { minLength: m, maxLength: m }) });
  });

/** Any frame the contract allows: 0–255 beats in time order, with or without ECG. `charging` always set. */
export function validFrameArb(options: FrameArbOptions = {}): fc.Arbitrary<TelemetryFrame> {
  const minBeats = options.minBeats ?? 0;
  return fc.integer({ min: FRAME_LIMITS.minDurMs, max: FRAME_LIMITS.maxDurMs }).chain((durMs) => {
    // Mostly short beat lists, but regularly the full 250–255 so the uint8 count is exercised.
    const beats = fc.oneof(
      fc.array(beatArb(durMs), { minLength: minBeats, maxLength: Math.max(minBeats, 12) }),
      fc.array(beatArb(durMs), { minLength: Math.max(minBeats, 250), maxLength: FRAME_LIMITS.maxBeats }),
    ).map((bs) => bs.sort((a, b) => a.off - b.off));
    const base = {
      seq: fc.integer({ min: 0, max: 0xffffffff }),
      ts: options.ts ?? fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }),
      durMs: fc.constant(durMs),
      hr: fc.integer({ min: 0, max: 255 }),
      battery: fc.oneof(fc.integer({ min: 0, max: 100 }), fc.constant(255)),
      leadOff: fc.boolean(),
      charging: fc.boolean(),
      beats,
    };
    if (options.ecg === true) return fc.record({ ...base, ecg: ecgArb(durMs) });
    if (options.ecg === false) return fc.record(base);
    return fc.record({ ...base, ecg: ecgArb(durMs) }, { requiredKeys: Object.keys(base) as (keyof typeof base)[] });
  });
}

/** `ts` within an hour of `nowMs`, so decodeTelemetry's clock-skew rule passes. */
export const tsNear = (nowMs: number) => fc.integer({ min: nowMs - 3_600_000, max: nowMs + 3_600_000 });

/** Rewrites the trailing CRC-32 so the frame is intact again after a deliberate field change. */
export function fixCrc(frame: Buffer): Buffer {
  frame.writeUInt32BE(crc32(frame.subarray(0, frame.length - 4)), frame.length - 4);
  return frame;
}

export type Mutation =
  | { kind: 'flip'; pos: number; bit: number }
  | { kind: 'set'; pos: number; byte: number }
  | { kind: 'truncate'; keep: number }
  | { kind: 'extend'; bytes: Uint8Array }
  | { kind: 'insert'; pos: number; bytes: Uint8Array }
  | { kind: 'delete'; pos: number; count: number };

export const mutationArb: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ kind: fc.constant('flip' as const), pos: fc.nat(), bit: fc.integer({ min: 0, max: 7 }) }),
  fc.record({ kind: fc.constant('set' as const), pos: fc.nat(), byte: fc.integer({ min: 0, max: 255 }) }),
  fc.record({ kind: fc.constant('truncate' as const), keep: fc.nat() }),
  fc.record({ kind: fc.constant('extend' as const), bytes: fc.uint8Array({ minLength: 1, maxLength: 40 }) }),
  fc.record({ kind: fc.constant('insert' as const), pos: fc.nat(), bytes: fc.uint8Array({ minLength: 1, maxLength: 8 }) }),
  fc.record({ kind: fc.constant('delete' as const), pos: fc.nat(), count: fc.integer({ min: 1, max: 8 }) }),
);

/** Applies one mutation; positions are taken modulo the length so every generated mutation applies. */
export function applyMutation(input: Buffer, m: Mutation): Buffer {
  const len = input.length;
  switch (m.kind) {
    case 'flip': {
      if (len === 0) return input;
      const out = Buffer.from(input);
      out[m.pos % len]! ^= 1 << m.bit;
      return out;
    }
    case 'set': {
      if (len === 0) return input;
      const out = Buffer.from(input);
      out[m.pos % len] = m.byte;
      return out;
    }
    case 'truncate':
      return input.subarray(0, m.keep % (len + 1));
    case 'extend':
      return Buffer.concat([input, m.bytes]);
    case 'insert': {
      const at = m.pos % (len + 1);
      return Buffer.concat([input.subarray(0, at), m.bytes, input.subarray(at)]);
    }
    case 'delete': {
      const at = len === 0 ? 0 : m.pos % len;
      return Buffer.concat([input.subarray(0, at), input.subarray(at + m.count)]);
    }
  }
}
