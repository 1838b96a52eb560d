import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { telemetryV1Schema, type TelemetryFrame } from '../../contracts/telemetry.ts';
import { encodeV1 } from '../../device-sim/frames.ts';
import { encodeV2 } from '../../device-sim/encode-v2.ts';
import { decodeTelemetry, type DecodeResult } from '../../gateway/decode.ts';
import { decodeV2 } from '../../gateway/decode-v2.ts';
import { applyMutation, fixCrc, mutationArb, tsNear, validFrameArb } from './v2-frames.ts';

/** Hex with spaces, line breaks and `//` comments for readability. */
const hex = (s: string) => Buffer.from(s.replace(/\/\/.*$/gm, '').replace(/\s+/g, ''), 'hex');

/**
 * The v1 example of device-protocol.md as a v2 frame, built by hand from the v2 table
 * (the CRC computed independently with Python's zlib.crc32).
 */
const EXAMPLE_FRAME = hex(`
  5042 02 00            // magic "PB", version 2, flags: no leadOff, no ECG, not charging
  0000002a              // seq 42
  0000019aba74ad00      // ts 1764064800000
  03e8 4a 58 02         // durMs 1000, hr 74, battery 88, n = 2
  0070 0326 4e          // beat off 112, rr 806, 'N'
  0399 0329 4e          // beat off 921, rr 809, 'N'
  71378608              // CRC-32
`);

/** Every flag, extreme values, and an ECG block (fs 125 Hz × 100 ms = 12 samples). */
const EXAMPLE_ECG_FRAME = hex(`
  5042 02 07            // magic, version 2, flags: leadOff | ECG | charging
  ffffffff              // seq 2^32 - 1
  0000019aba74ad00      // ts 1764064800000
  0064 00 ff 01         // durMs 100, hr 0 (not computed), battery 255 (unknown), n = 1
  0063 0000 56          // beat off 99, rr 0 (unknown), 'V'
  007d 000c             // fs 125, m = 12
  000c 000f 0009 fffc ff38 03e8 8000 7fff 0000 0001 ffff 01f4  // 12, 15, 9, -4, -200, 1000, -32768, 32767, 0, 1, -1, 500
  ed0ce4b6              // CRC-32
`);

const EXAMPLE_TS = 1764064800000;

const EXPECTED_EXAMPLE: TelemetryFrame = {
  seq: 42, ts: EXAMPLE_TS, durMs: 1000, hr: 74, battery: 88, leadOff: false, charging: false,
  beats: [{ off: 112, rr: 806, cls: 'N' }, { off: 921, rr: 809, cls: 'N' }],
};

const EXPECTED_ECG_EXAMPLE: TelemetryFrame = {
  seq: 0xffffffff, ts: EXAMPLE_TS, durMs: 100, hr: 0, battery: 255, leadOff: true, charging: true,
  beats: [{ off: 99, rr: 0, cls: 'V' }],
  ecg: { fs: 125, uV: [12, 15, 9, -4, -200, 1000, -32768, 32767, 0, 1, -1, 500] },
};

/** A record or a reasoned reject, and an accepted frame satisfies the contract (checked by the independent v1 zod schema). */
function expectWellFormed(result: DecodeResult): void {
  if (result.ok) {
    expect(['json-v1', 'binary-v2']).toContain(result.format);
    const check = telemetryV1Schema.safeParse({ v: 1, ...result.frame });
    expect(check.success, check.success ? '' : JSON.stringify(check.error.issues)).toBe(true);
  } else {
    expect(result.reason).toMatch(/^[a-z0-9_]+$/);
    expect(result.detail.length).toBeGreaterThan(0);
  }
}

const normalised = (f: TelemetryFrame): TelemetryFrame => ({ ...f, charging: f.charging ?? false });
const copy = (b: Buffer) => Buffer.from(b);
const reasonOf = (r: DecodeResult) => (r.ok ? 'ok' : r.reason);

describe('decodeV2', () => {
  describe('documented examples', () => {
    it('decodes the hand-built example frame to exactly the documented frame', () => {
      expect(EXAMPLE_FRAME).toHaveLength(35);
      expect(decodeV2(EXAMPLE_FRAME)).toEqual({ ok: true, format: 'binary-v2', frame: EXPECTED_EXAMPLE });
    });

    it('decodes a frame with every flag set, an ECG block and extreme values exactly', () => {
      expect(EXAMPLE_ECG_FRAME).toHaveLength(58);
      expect(decodeV2(EXAMPLE_ECG_FRAME)).toEqual({ ok: true, format: 'binary-v2', frame: EXPECTED_ECG_EXAMPLE });
    });

    it('is reached through decodeTelemetry for "PB" payloads, with the clock-skew rule applied after decoding', () => {
      expect(decodeTelemetry(EXAMPLE_FRAME, EXAMPLE_TS + 5_000)).toEqual({ ok: true, format: 'binary-v2', frame: EXPECTED_EXAMPLE });
      expect(decodeTelemetry(EXAMPLE_FRAME, EXAMPLE_TS + 25 * 3_600_000)).toEqual({
        ok: false, reason: 'clock_skew', detail: 'frame ts is -90000 s away from gateway time; the limit is 86400 s',
      });
    });

    it('the simulator encoder writes exactly the hand-built bytes', () => {
      expect(encodeV2(EXPECTED_EXAMPLE).toString('hex')).toBe(EXAMPLE_FRAME.toString('hex'));
      expect(encodeV2(EXPECTED_ECG_EXAMPLE).toString('hex')).toBe(EXAMPLE_ECG_FRAME.toString('hex'));
    });
  });

  describe('rejects with the whole reason', () => {
    it('a flipped CRC byte', () => {
      const bad = copy(EXAMPLE_FRAME);
      bad[34]! ^= 0xff;
      expect(decodeTelemetry(bad, EXAMPLE_TS)).toEqual({
        ok: false, reason: 'v2_crc_mismatch', detail: 'CRC-32 in frame is 0x713786f7, computed over the 31 bytes before it: 0x71378608',
      });
    });

    it('a truncated frame, as damaged, saying the length disagrees with the header', () => {
      expect(decodeV2(EXAMPLE_FRAME.subarray(0, 30))).toEqual({
        ok: false, reason: 'v2_crc_mismatch',
        detail: 'CRC-32 in frame is 0x03990329, computed over the 26 bytes before it: 0x79347e80; its header implies 35 bytes, it has 30 (truncated or extended?)',
      });
    });

    it('frames shorter than the fixed header and CRC', () => {
      expect(decodeV2(Buffer.from('P'))).toEqual({ ok: false, reason: 'v2_too_short', detail: 'frame is 1 bytes; a v2 frame is at least 25' });
      expect(decodeV2(Buffer.from('PB'))).toEqual({ ok: false, reason: 'v2_too_short', detail: 'frame is 2 bytes; a v2 frame is at least 25' });
      expect(decodeV2(EXAMPLE_FRAME.subarray(0, 24))).toEqual({ ok: false, reason: 'v2_too_short', detail: 'frame is 24 bytes; a v2 frame is at least 25' });
    });

    it('a wrong magic or version', () => {
      expect(decodeV2(Buffer.concat([Buffer.from('PX'), EXAMPLE_FRAME.subarray(2)]))).toEqual({
        ok: false, reason: 'v2_bad_magic', detail: 'frame starts with 0x50 0x58, expected 0x50 0x42 ("PB")',
      });
      const v3 = copy(EXAMPLE_FRAME);
      v3[2] = 3;
      expect(decodeV2(v3)).toEqual({ ok: false, reason: 'v2_bad_version', detail: 'version byte is 3, expected 2' });
    });

    it('an intact frame with a reserved flag bit set', () => {
      const bad = copy(EXAMPLE_FRAME);
      bad[3] = 0x08;
      expect(decodeV2(fixCrc(bad))).toEqual({ ok: false, reason: 'v2_reserved_bits', detail: 'flags byte is 0x08; bits 3–7 are reserved and must be 0' });
    });

    it('an intact frame whose beat count disagrees with its length', () => {
      const bad = copy(EXAMPLE_FRAME);
      bad[20] = 3;
      expect(decodeV2(fixCrc(bad))).toEqual({ ok: false, reason: 'v2_length_mismatch', detail: 'frame is 35 bytes; with 3 beats and no ECG it must be exactly 40' });
    });

    it('an intact frame announcing an ECG block it does not have', () => {
      const bad = copy(EXAMPLE_FRAME);
      bad[3] = 0x02;
      expect(decodeV2(fixCrc(bad))).toEqual({
        ok: false, reason: 'v2_length_mismatch', detail: 'frame is 35 bytes but 2 beats plus the ECG header and CRC need at least 39',
      });
    });

    it('more beats than a tighter configured limit', () => {
      expect(decodeV2(EXAMPLE_FRAME, 1)).toEqual({ ok: false, reason: 'v2_bad_beat_count', detail: 'frame has 2 beats; the limit is 1' });
    });

    it('an intact frame with a ts beyond Number.MAX_SAFE_INTEGER', () => {
      const bad = copy(EXAMPLE_FRAME);
      bad.writeUInt32BE(0x00200000, 8);
      bad.writeUInt32BE(0, 12);
      expect(decodeV2(fixCrc(bad))).toEqual({ ok: false, reason: 'v2_out_of_range', detail: 'ts: 9007199254740992 exceeds 9007199254740991 (Number.MAX_SAFE_INTEGER)' });
    });

    it('an intact frame with out-of-range durMs, battery, beat offset, beat order, beat class, fs or sample count', () => {
      const cases: [string, (b: Buffer) => void, DecodeResult][] = [
        ['durMs 99', (b) => b.writeUInt16BE(99, 16), { ok: false, reason: 'v2_out_of_range', detail: 'durMs: 99 is outside 100–5000' }],
        ['durMs 5001', (b) => b.writeUInt16BE(5001, 16), { ok: false, reason: 'v2_out_of_range', detail: 'durMs: 5001 is outside 100–5000' }],
        ['battery 101', (b) => { b[19] = 101; }, { ok: false, reason: 'v2_out_of_range', detail: 'battery: 101 is neither 0–100 nor 255 (unknown)' }],
        ['off = durMs', (b) => b.writeUInt16BE(1000, 26), { ok: false, reason: 'v2_out_of_range', detail: 'beats[1].off: 1000 must be < durMs 1000' }],
        ['beats reversed', (b) => b.writeUInt16BE(111, 26), { ok: false, reason: 'v2_beats_out_of_order', detail: 'beats[1].off: 111 is before beats[0].off 112; beats must be in time order' }],
        ['cls X', (b) => { b[25] = 0x58; }, { ok: false, reason: 'v2_bad_beat_class', detail: 'beats[0].cls: byte 0x58 is not one of N S V F Q' }],
        ['cls lower-case n', (b) => { b[30] = 0x6e; }, { ok: false, reason: 'v2_bad_beat_class', detail: 'beats[1].cls: byte 0x6e is not one of N S V F Q' }],
      ];
      const results = cases.map(([name, mutate]) => {
        const bad = copy(EXAMPLE_FRAME);
        mutate(bad);
        return [name, decodeV2(fixCrc(bad))];
      });
      expect(results).toEqual(cases.map(([name, , expected]) => [name, expected]));

      const ecgCases: [string, (b: Buffer) => void, DecodeResult][] = [
        ['fs 124', (b) => b.writeUInt16BE(124, 26), { ok: false, reason: 'v2_out_of_range', detail: 'ecg.fs: 124 Hz is outside 125–1000' }],
        ['fs 1001', (b) => b.writeUInt16BE(1001, 26), { ok: false, reason: 'v2_out_of_range', detail: 'ecg.fs: 1001 Hz is outside 125–1000' }],
        ['fs 250 with 12 samples', (b) => b.writeUInt16BE(250, 26), { ok: false, reason: 'v2_bad_sample_count', detail: 'ecg: 12 samples, but fs 250 Hz × durMs 100 / 1000 = 25 (rounded down)' }],
        ['durMs 110 with 12 samples (13.75 → 13)', (b) => b.writeUInt16BE(110, 16), { ok: false, reason: 'v2_bad_sample_count', detail: 'ecg: 12 samples, but fs 125 Hz × durMs 110 / 1000 = 13 (rounded down)' }],
      ];
      const ecgResults = ecgCases.map(([name, mutate]) => {
        const bad = copy(EXAMPLE_ECG_FRAME);
        mutate(bad);
        return [name, decodeV2(fixCrc(bad))];
      });
      expect(ecgResults).toEqual(ecgCases.map(([name, , expected]) => [name, expected]));
    });

    it('accepts the boundaries of every range', () => {
      const edges = copy(EXAMPLE_FRAME);
      edges.writeUInt16BE(922, 16); // durMs just above the last offset (921)
      edges[19] = 100;
      edges.writeUInt32BE(0x001fffff, 8);
      edges.writeUInt32BE(0xffffffff, 12); // ts = MAX_SAFE_INTEGER
      edges.writeUInt16BE(112, 26); // two beats at the same instant are still in time order
      expect(decodeV2(fixCrc(edges))).toEqual({
        ok: true, format: 'binary-v2',
        frame: { ...EXPECTED_EXAMPLE, ts: Number.MAX_SAFE_INTEGER, durMs: 922, battery: 100, beats: [{ off: 112, rr: 806, cls: 'N' }, { off: 112, rr: 809, cls: 'N' }] },
      });
    });
  });

  describe('properties', () => {
    it('encode → decode round-trips any valid frame (0–255 beats, with or without ECG)', () => {
      fc.assert(fc.property(validFrameArb(), (frame) => {
        expect(decodeV2(encodeV2(frame))).toEqual({ ok: true, format: 'binary-v2', frame: normalised(frame) });
      }), { numRuns: 300 });
    });

    it('a frame without `charging` decodes as not charging', () => {
      fc.assert(fc.property(validFrameArb(), (frame) => {
        const { charging: _c, ...withoutCharging } = frame;
        const decoded = decodeV2(encodeV2(withoutCharging));
        expect(decoded).toEqual({ ok: true, format: 'binary-v2', frame: { ...withoutCharging, charging: false } });
      }), { numRuns: 50 });
    });

    it('random bytes never throw out of decodeTelemetry and always yield a record or a reasoned reject', () => {
      const prefixed = fc.tuple(fc.constantFrom('', 'PB', 'PB\u0002', '{'), fc.uint8Array({ maxLength: 400 }))
        .map(([prefix, rest]) => Buffer.concat([Buffer.from(prefix, 'latin1'), rest]));
      fc.assert(fc.property(prefixed, fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }), (payload, nowMs) => {
        expectWellFormed(decodeTelemetry(payload, nowMs));
      }), { numRuns: 3000 });
    });

    const now = Date.now();
    const validV2 = validFrameArb({ ts: tsNear(now) }).map((f) => encodeV2(f));
    const validV1 = validFrameArb({ ts: tsNear(now) }).map((f) => encodeV1(f));

    it('mutated valid v2 and v1 frames never throw, and an accepted mutated v2 frame is exactly what the encoder writes for it', () => {
      const mutated = fc.tuple(fc.oneof(validV2, validV1), fc.array(mutationArb, { minLength: 1, maxLength: 4 }))
        .map(([seed, ms]) => ms.reduce(applyMutation, seed));
      fc.assert(fc.property(mutated, fc.boolean(), (payload, recrc) => {
        // Half the time repair the CRC so the mutation reaches the field checks behind it.
        const input = recrc && payload.length >= 25 && payload[0] === 0x50 ? fixCrc(Buffer.from(payload)) : payload;
        const result = decodeTelemetry(input, now);
        expectWellFormed(result);
        if (result.ok && result.format === 'binary-v2') expect(encodeV2(result.frame).equals(input)).toBe(true);
      }), { numRuns: 3000 });
    });

    it('any flipped bit after the version byte is caught by the CRC, and a changed CRC byte is a CRC mismatch', () => {
      fc.assert(fc.property(validV2, fc.nat(), fc.integer({ min: 0, max: 7 }), (frame, pos, bit) => {
        const bad = copy(frame);
        bad[3 + (pos % (frame.length - 3))]! ^= 1 << bit;
        expect(reasonOf(decodeTelemetry(bad, now))).toBe('v2_crc_mismatch');
      }), { numRuns: 500 });
      fc.assert(fc.property(validV2, fc.integer({ min: 1, max: 4 }), fc.integer({ min: 1, max: 255 }), (frame, fromEnd, xor) => {
        const bad = copy(frame);
        bad[frame.length - fromEnd]! ^= xor;
        expect(reasonOf(decodeTelemetry(bad, now))).toBe('v2_crc_mismatch');
      }), { numRuns: 300 });
    });

    it('truncated or extended intact frames are a length mismatch', () => {
      fc.assert(fc.property(validV2, fc.nat(), fc.uint8Array({ minLength: 1, maxLength: 20 }), fc.boolean(), (frame, cut, extra, truncate) => {
        const body = frame.subarray(0, frame.length - 4);
        // Keep at least the 21-byte header so the frame is not simply "too short".
        const changed = truncate ? body.subarray(0, 21 + (cut % (body.length - 20))) : Buffer.concat([body, extra]);
        fc.pre(changed.length !== body.length);
        const result = decodeV2(fixCrc(Buffer.concat([changed, Buffer.alloc(4)])));
        expect(reasonOf(result)).toBe('v2_length_mismatch');
      }), { numRuns: 500 });
    });

    it('an intact frame with one broken field gets the specific reason naming the field', () => {
      type Breakage = { at: (frame: Buffer) => void; reason: string; field: RegExp };
      const breakages = fc.oneof(
        fc.integer({ min: 3, max: 7 }).map((bit): Breakage => ({ at: (b) => { b[3]! |= 1 << bit; }, reason: 'v2_reserved_bits', field: /^flags byte/ })),
        fc.oneof(fc.integer({ min: 0, max: 99 }), fc.integer({ min: 5001, max: 0xffff }))
          .map((d): Breakage => ({ at: (b) => b.writeUInt16BE(d, 16), reason: 'v2_out_of_range', field: /^durMs: / })),
        fc.integer({ min: 101, max: 254 }).map((v): Breakage => ({ at: (b) => { b[19] = v; }, reason: 'v2_out_of_range', field: /^battery: / })),
        fc.integer({ min: 0x200000, max: 0xffffffff }).map((hi): Breakage => ({ at: (b) => b.writeUInt32BE(hi, 8), reason: 'v2_out_of_range', field: /^ts: / })),
      );
      fc.assert(fc.property(validV2, breakages, (frame, breakage) => {
        const bad = copy(frame);
        breakage.at(bad);
        const result = decodeV2(fixCrc(bad));
        expect(reasonOf(result)).toBe(breakage.reason);
        expect(result.ok ? '' : result.detail).toMatch(breakage.field);
      }), { numRuns: 500 });
    });

    it('an intact frame with one broken beat names that beat', () => {
      const withBeats = validFrameArb({ minBeats: 2, ecg: false });
      const notAClass = fc.integer({ min: 0, max: 255 }).filter((c) => !'NSVFQ'.includes(String.fromCharCode(c)));
      fc.assert(fc.property(withBeats, fc.nat(), fc.nat(), notAClass, fc.constantFrom('off', 'order', 'cls'), (frame, pick, value, clsByte, kind) => {
        const i = pick % frame.beats.length;
        const bad = encodeV2(frame);
        const at = 21 + 5 * i;
        if (kind === 'off') {
          bad.writeUInt16BE(frame.durMs + (value % (0x10000 - frame.durMs)), at);
          expect(decodeV2(fixCrc(bad))).toMatchObject({ ok: false, reason: 'v2_out_of_range', detail: expect.stringMatching(new RegExp(`^beats\\[${i}\\]\\.off: `)) });
        } else if (kind === 'order') {
          const j = Math.max(i, 1);
          const prevOff = frame.beats[j - 1]!.off;
          fc.pre(prevOff > 0);
          bad.writeUInt16BE(value % prevOff, 21 + 5 * j);
          expect(decodeV2(fixCrc(bad))).toMatchObject({ ok: false, reason: 'v2_beats_out_of_order', detail: expect.stringMatching(new RegExp(`^beats\\[${j}\\]\\.off: `)) });
        } else {
          bad[at + 4] = clsByte;
          expect(decodeV2(fixCrc(bad))).toMatchObject({ ok: false, reason: 'v2_bad_beat_class', detail: expect.stringMatching(new RegExp(`^beats\\[${i}\\]\\.cls: `)) });
        }
      }), { numRuns: 500 });
    });

    it('an intact ECG frame with an out-of-range fs or a sample count that disagrees with fs × durMs is rejected for that', () => {
      const ecgFrames = validFrameArb({ ecg: true });
      fc.assert(fc.property(ecgFrames, fc.oneof(fc.integer({ min: 0, max: 124 }), fc.integer({ min: 1001, max: 0xffff })), (frame, fs) => {
        const bad = encodeV2(frame);
        bad.writeUInt16BE(fs, 21 + 5 * frame.beats.length);
        expect(decodeV2(fixCrc(bad))).toMatchObject({ ok: false, reason: 'v2_out_of_range', detail: expect.stringMatching(/^ecg\.fs: /) });
      }), { numRuns: 200 });
      fc.assert(fc.property(ecgFrames, fc.integer({ min: 125, max: 1000 }), (frame, fs) => {
        fc.pre(Math.floor((fs * frame.durMs) / 1000) !== frame.ecg!.uV.length);
        const bad = encodeV2(frame);
        bad.writeUInt16BE(fs, 21 + 5 * frame.beats.length);
        expect(decodeV2(fixCrc(bad))).toMatchObject({ ok: false, reason: 'v2_bad_sample_count', detail: expect.stringMatching(/^ecg: /) });
      }), { numRuns: 200 });
    });
  });
});
