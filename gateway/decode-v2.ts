/**
 * Binary v2 telemetry frames (device-protocol.md "v2: binary (compact firmware format)"):
 * validate every rule of the contract and decode into the canonical {@link TelemetryFrame}.
 * Never throws: returns the frame or a rejection with a specific reason code.
 *
 * Layout (all integers big-endian):
 *   0 magic "PB" · 2 version=2 · 3 flags · 4 seq u32 · 8 ts u64 · 16 durMs u16 · 18 hr u8 ·
 *   19 battery u8 · 20 n u8 · 21 n×(off u16, rr u16, cls u8) · [fs u16, m u16, m×int16 µV] · CRC-32.
 *
 * Order of the checks, and why: magic and version first (they say which format this is at all;
 * a future v3 is "unsupported version", not "damaged"), then the minimum length, then the CRC.
 * The MQTT message delimits the frame, so the CRC location (the last 4 bytes) is known without
 * parsing anything. Checking integrity before structure means a damaged or truncated frame is
 * reported as damaged (`v2_crc_mismatch`), and every later reason (reserved bits, length, counts,
 * ranges) describes bytes the firmware really sent — i.e. a firmware bug, not a radio glitch.
 */
import { crc32 } from 'node:zlib';
import { FRAME_LIMITS, type Beat, type BeatClass, type TelemetryFrame } from '../contracts/telemetry.ts';
import type { DecodeResult } from './decode-result.ts';

/** Fixed offsets and sizes of the v2 layout (device-protocol.md table). */
export const V2_LAYOUT = {
  magic0: 0x50, // 'P'
  magic1: 0x42, // 'B'
  version: 2,
  headerBytes: 21,
  beatBytes: 5,
  ecgHeaderBytes: 4,
  sampleBytes: 2,
  crcBytes: 4,
  flagLeadOff: 0x01,
  flagEcg: 0x02,
  flagCharging: 0x04,
  /** Bits 3–7 must be 0. */
  reservedFlagsMask: 0xf8,
} as const;

/** Smallest possible v2 frame: header, no beats, no ECG, CRC. */
export const V2_MIN_BYTES = V2_LAYOUT.headerBytes + V2_LAYOUT.crcBytes;

/** Beat class by ASCII byte; a 256-entry table so decoding a beat allocates nothing. */
const CLASS_BY_BYTE: (BeatClass | undefined)[] = new Array(256).fill(undefined);
for (const cls of ['N', 'S', 'V', 'F', 'Q'] as const) CLASS_BY_BYTE[cls.charCodeAt(0)] = cls;

/** 2^53 − 1 split at 32 bits: the high word of a safe-integer `ts` is at most 0x1FFFFF. */
const MAX_SAFE_TS_HIGH_WORD = 0x1fffff;

const reject = (reason: string, detail: string): DecodeResult => ({ ok: false, reason, detail });
const hex = (n: number, width: number) => `0x${n.toString(16).padStart(width, '0')}`;

/**
 * Decodes one binary v2 frame. `maxBeats` defaults to the contract limit (255, which the uint8
 * count can never exceed); a gateway configured tighter may pass less.
 *
 * Reason codes: `v2_too_short`, `v2_bad_magic`, `v2_bad_version`, `v2_crc_mismatch`,
 * `v2_reserved_bits`, `v2_length_mismatch`, `v2_bad_beat_count`, `v2_bad_sample_count`,
 * `v2_bad_beat_class`, `v2_beats_out_of_order`, `v2_out_of_range` (detail names the field).
 */
export function decodeV2(payload: Buffer, maxBeats: number = FRAME_LIMITS.maxBeats): DecodeResult {
  const len = payload.length;
  if (len < 2) return reject('v2_too_short', `frame is ${len} bytes; a v2 frame is at least ${V2_MIN_BYTES}`);
  if (payload[0] !== V2_LAYOUT.magic0 || payload[1] !== V2_LAYOUT.magic1) {
    return reject('v2_bad_magic', `frame starts with ${hex(payload[0]!, 2)} ${hex(payload[1]!, 2)}, expected 0x50 0x42 ("PB")`);
  }
  if (len < 3) return reject('v2_too_short', `frame is ${len} bytes; a v2 frame is at least ${V2_MIN_BYTES}`);
  const version = payload[2]!;
  if (version !== V2_LAYOUT.version) return reject('v2_bad_version', `version byte is ${version}, expected 2`);
  if (len < V2_MIN_BYTES) return reject('v2_too_short', `frame is ${len} bytes; a v2 frame is at least ${V2_MIN_BYTES}`);

  const bodyEnd = len - V2_LAYOUT.crcBytes;
  const crcSent = payload.readUInt32BE(bodyEnd);
  const crcComputed = crc32(payload.subarray(0, bodyEnd));
  if (crcSent !== crcComputed) {
    return reject('v2_crc_mismatch', `CRC-32 in frame is ${hex(crcSent, 8)}, computed over the ${bodyEnd} bytes before it: ${hex(crcComputed, 8)}`
      + lengthHint(payload));
  }

  const flags = payload[3]!;
  if ((flags & V2_LAYOUT.reservedFlagsMask) !== 0) {
    return reject('v2_reserved_bits', `flags byte is ${hex(flags, 2)}; bits 3–7 are reserved and must be 0`);
  }
  const n = payload[20]!;
  const hasEcg = (flags & V2_LAYOUT.flagEcg) !== 0;
  const beatsEnd = V2_LAYOUT.headerBytes + V2_LAYOUT.beatBytes * n;
  let m = 0;
  let expectedLen = beatsEnd + V2_LAYOUT.crcBytes;
  if (hasEcg) {
    expectedLen += V2_LAYOUT.ecgHeaderBytes;
    if (len < expectedLen) {
      return reject('v2_length_mismatch', `frame is ${len} bytes but ${n} beats plus the ECG header and CRC need at least ${expectedLen}`);
    }
    m = payload.readUInt16BE(beatsEnd + 2);
    expectedLen += V2_LAYOUT.sampleBytes * m;
  }
  if (len !== expectedLen) {
    const parts = hasEcg ? `${n} beats and ${m} ECG samples` : `${n} beats and no ECG`;
    return reject('v2_length_mismatch', `frame is ${len} bytes; with ${parts} it must be exactly ${expectedLen}`);
  }
  if (n > maxBeats) return reject('v2_bad_beat_count', `frame has ${n} beats; the limit is ${maxBeats}`);

  const seq = payload.readUInt32BE(4); // uint32 by construction
  const tsHigh = payload.readUInt32BE(8);
  const tsLow = payload.readUInt32BE(12);
  if (tsHigh > MAX_SAFE_TS_HIGH_WORD) {
    return reject('v2_out_of_range', `ts: ${(BigInt(tsHigh) << 32n) | BigInt(tsLow)} exceeds ${Number.MAX_SAFE_INTEGER} (Number.MAX_SAFE_INTEGER)`);
  }
  const ts = tsHigh * 0x1_0000_0000 + tsLow;
  const durMs = payload.readUInt16BE(16);
  if (durMs < FRAME_LIMITS.minDurMs || durMs > FRAME_LIMITS.maxDurMs) {
    return reject('v2_out_of_range', `durMs: ${durMs} is outside ${FRAME_LIMITS.minDurMs}–${FRAME_LIMITS.maxDurMs}`);
  }
  const hr = payload[18]!;
  const battery = payload[19]!;
  if (battery > 100 && battery !== 255) return reject('v2_out_of_range', `battery: ${battery} is neither 0–100 nor 255 (unknown)`);

  const beats: Beat[] = new Array(n);
  let prevOff = 0;
  for (let i = 0, at = V2_LAYOUT.headerBytes; i < n; i++, at += V2_LAYOUT.beatBytes) {
    const off = payload.readUInt16BE(at);
    const rr = payload.readUInt16BE(at + 2);
    const clsByte = payload[at + 4]!;
    const cls = CLASS_BY_BYTE[clsByte];
    if (off >= durMs) return reject('v2_out_of_range', `beats[${i}].off: ${off} must be < durMs ${durMs}`);
    if (off < prevOff) return reject('v2_beats_out_of_order', `beats[${i}].off: ${off} is before beats[${i - 1}].off ${prevOff}; beats must be in time order`);
    if (cls === undefined) return reject('v2_bad_beat_class', `beats[${i}].cls: byte ${hex(clsByte, 2)} is not one of N S V F Q`);
    beats[i] = { off, rr, cls };
    prevOff = off;
  }

  const frame: TelemetryFrame = {
    seq, ts, durMs, hr, battery,
    leadOff: (flags & V2_LAYOUT.flagLeadOff) !== 0,
    // v2 always carries the charging bit, so "not charging" is a statement, not an absence.
    charging: (flags & V2_LAYOUT.flagCharging) !== 0,
    beats,
  };
  if (hasEcg) {
    const fs = payload.readUInt16BE(beatsEnd);
    if (fs < FRAME_LIMITS.minFsHz || fs > FRAME_LIMITS.maxFsHz) {
      return reject('v2_out_of_range', `ecg.fs: ${fs} Hz is outside ${FRAME_LIMITS.minFsHz}–${FRAME_LIMITS.maxFsHz}`);
    }
    const expectedM = Math.floor((fs * durMs) / 1000);
    if (m !== expectedM) {
      return reject('v2_bad_sample_count', `ecg: ${m} samples, but fs ${fs} Hz × durMs ${durMs} / 1000 = ${expectedM} (rounded down)`);
    }
    const uV: number[] = new Array(m);
    for (let i = 0, at = beatsEnd + V2_LAYOUT.ecgHeaderBytes; i < m; i++, at += V2_LAYOUT.sampleBytes) uV[i] = payload.readInt16BE(at);
    frame.ecg = { fs, uV };
  }
  return { ok: true, format: 'binary-v2', frame };
}

/** For a CRC failure: says whether the length also disagrees with the header (truncated or extended in transit). */
function lengthHint(payload: Buffer): string {
  const len = payload.length;
  const n = payload[20]!;
  let expected = V2_LAYOUT.headerBytes + V2_LAYOUT.beatBytes * n + V2_LAYOUT.crcBytes;
  if ((payload[3]! & V2_LAYOUT.flagEcg) !== 0) {
    const mAt = expected - V2_LAYOUT.crcBytes + 2;
    if (mAt + 2 > len - V2_LAYOUT.crcBytes) return '; the frame is too short for the ECG block its header announces (truncated?)';
    expected += V2_LAYOUT.ecgHeaderBytes + V2_LAYOUT.sampleBytes * payload.readUInt16BE(mAt);
  }
  return expected === len ? '' : `; its header implies ${expected} bytes, it has ${len} (truncated or extended?)`;
}
