import { describe, expect, it } from 'vitest';
import type { TelemetryFrame } from '../../contracts/telemetry.ts';
import { encodeV2 } from '../../device-sim/encode-v2.ts';
import { PulsebridgeError } from '../../platform/errors.ts';

const FRAME: TelemetryFrame = {
  seq: 42, ts: 1764064800000, durMs: 1000, hr: 74, battery: 88, leadOff: false,
  beats: [{ off: 112, rr: 806, cls: 'N' }, { off: 921, rr: 809, cls: 'N' }],
};

/** The error encodeV2 throws for a frame, as a plain object. */
function failure(frame: TelemetryFrame): { code: string; field: unknown; message: string } | undefined {
  try {
    encodeV2(frame);
    return undefined;
  } catch (err) {
    if (!(err instanceof PulsebridgeError)) throw err;
    return { code: err.code, field: err.details?.field, message: err.message };
  }
}

describe('encodeV2', () => {
  it('writes the v2 layout of device-protocol.md, big-endian, with the CRC-32 of every byte before it', () => {
    // Same bytes as the hand-built example in test/gateway/decode-v2.test.ts.
    expect(encodeV2(FRAME).toString('hex')).toBe('504202000000002a0000019aba74ad0003e84a5802007003264e039903294e71378608');
  });

  it('sets the leadOff, ecg and charging flag bits', () => {
    const flags = (f: Partial<TelemetryFrame>) => encodeV2({ ...FRAME, ...f })[3];
    expect([
      flags({}), flags({ leadOff: true }), flags({ charging: true }), flags({ durMs: 1000, ecg: { fs: 125, uV: new Array(125).fill(0) } }),
    ]).toEqual([0x00, 0x01, 0x04, 0x02]);
  });

  it('refuses frames the contract does not allow, naming the field, instead of clamping them', () => {
    const cases: [string, TelemetryFrame][] = [
      ['seq', { ...FRAME, seq: 2 ** 32 }],
      ['seq', { ...FRAME, seq: 1.5 }],
      ['ts', { ...FRAME, ts: Number.MAX_SAFE_INTEGER + 1 }],
      ['ts', { ...FRAME, ts: -1 }],
      ['durMs', { ...FRAME, durMs: 99 }],
      ['durMs', { ...FRAME, durMs: 5001 }],
      ['hr', { ...FRAME, hr: 256 }],
      ['battery', { ...FRAME, battery: 101 }],
      ['beats', { ...FRAME, beats: new Array(256).fill({ off: 0, rr: 0, cls: 'N' }) }],
      ['beats[1].off', { ...FRAME, beats: [{ off: 112, rr: 0, cls: 'N' }, { off: 1000, rr: 0, cls: 'N' }] }],
      ['beats[1].off', { ...FRAME, beats: [{ off: 112, rr: 0, cls: 'N' }, { off: 111, rr: 0, cls: 'N' }] }],
      ['beats[0].rr', { ...FRAME, beats: [{ off: 112, rr: 70000, cls: 'N' }] }],
      ['beats[0].cls', { ...FRAME, beats: [{ off: 112, rr: 0, cls: 'X' as 'N' }] }],
      ['ecg.fs', { ...FRAME, ecg: { fs: 124, uV: new Array(124).fill(0) } }],
      ['ecg.uV', { ...FRAME, ecg: { fs: 250, uV: [12, 15, 9, -4] } }],
      ['ecg.uV[3]', { ...FRAME, durMs: 100, beats: [], ecg: { fs: 125, uV: [0, 0, 0, 40000, 0, 0, 0, 0, 0, 0, 0, 0] } }],
    ];
    expect(cases.map(([, frame]) => failure(frame)?.field)).toEqual(cases.map(([field]) => field));
    expect(failure({ ...FRAME, battery: 101 })).toEqual({
      code: 'PB_SIM_FAILED', field: 'battery', message: 'cannot encode frame as binary v2: battery 101 is neither 0–100 nor 255 (unknown)',
    });
  });
});
