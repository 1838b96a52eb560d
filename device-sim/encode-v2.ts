/**
 * The simulator's firmware-format encoder: a {@link TelemetryFrame} as a binary v2 frame
 * (device-protocol.md "v2: binary (compact firmware format)").
 *
 * Written from the contract table, independently of the gateway's decoder (it imports nothing
 * from gateway/), so that encoder and decoder check each other in the round-trip tests.
 * Like real firmware it only produces frames the contract allows: a frame that cannot be
 * encoded faithfully (a value outside its field, a rule broken) throws instead of being
 * truncated or clamped.
 */
import { crc32 } from 'node:zlib';
import { BEAT_CLASSES, FRAME_LIMITS, type TelemetryFrame } from '../contracts/telemetry.ts';
import { PulsebridgeError } from '../platform/errors.ts';

const HEADER_BYTES = 21;
const BEAT_BYTES = 5;
const ECG_HEADER_BYTES = 4;
const CRC_BYTES = 4;
const FLAG_LEAD_OFF = 0x01;
const FLAG_ECG = 0x02;
const FLAG_CHARGING = 0x04;

function unencodable(field: string, message: string): PulsebridgeError {
  return new PulsebridgeError('PB_SIM_FAILED', `cannot encode frame as binary v2: ${field} ${message}`, { details: { field } });
}

function checkInt(field: string, value: number, min: number, max: number): void {
  if (!Number.isInteger(value) || value < min || value > max) throw unencodable(field, `${value} is not an integer in ${min}–${max}`);
}

/**
 * Encodes one frame as binary v2 (big-endian, CRC-32 as zlib's crc32 over every byte before it).
 * `charging` absent is encoded as not charging.
 * @throws PulsebridgeError (PB_SIM_FAILED, `details.field` names the field) when the frame breaks the contract.
 */
export function encodeV2(frame: TelemetryFrame): Buffer {
  checkInt('seq', frame.seq, 0, 0xffffffff);
  checkInt('ts', frame.ts, 0, Number.MAX_SAFE_INTEGER);
  checkInt('durMs', frame.durMs, FRAME_LIMITS.minDurMs, FRAME_LIMITS.maxDurMs);
  checkInt('hr', frame.hr, 0, 255);
  checkInt('battery', frame.battery, 0, 255);
  if (frame.battery > 100 && frame.battery !== 255) throw unencodable('battery', `${frame.battery} is neither 0–100 nor 255 (unknown)`);
  const n = frame.beats.length;
  if (n > FRAME_LIMITS.maxBeats) throw unencodable('beats', `has ${n} entries; at most ${FRAME_LIMITS.maxBeats}`);
  let prevOff = 0;
  frame.beats.forEach((b, i) => {
    checkInt(`beats[${i}].off`, b.off, 0, frame.durMs - 1);
    if (b.off < prevOff) throw unencodable(`beats[${i}].off`, `${b.off} is before the previous beat (${prevOff}); beats must be in time order`);
    checkInt(`beats[${i}].rr`, b.rr, 0, 0xffff);
    if (!(BEAT_CLASSES as readonly string[]).includes(b.cls)) throw unencodable(`beats[${i}].cls`, `${JSON.stringify(b.cls)} is not one of ${BEAT_CLASSES.join(' ')}`);
    prevOff = b.off;
  });
  const ecg = frame.ecg;
  let m = 0;
  if (ecg) {
    checkInt('ecg.fs', ecg.fs, FRAME_LIMITS.minFsHz, FRAME_LIMITS.maxFsHz);
    m = Math.floor((ecg.fs * frame.durMs) / 1000);
    if (ecg.uV.length !== m) throw unencodable('ecg.uV', `has ${ecg.uV.length} samples; fs × durMs / 1000 = ${m}`);
    ecg.uV.forEach((s, i) => checkInt(`ecg.uV[${i}]`, s, -0x8000, 0x7fff));
  }

  const length = HEADER_BYTES + BEAT_BYTES * n + (ecg ? ECG_HEADER_BYTES + 2 * m : 0) + CRC_BYTES;
  const out = Buffer.alloc(length);
  out[0] = 0x50; // 'P'
  out[1] = 0x42; // 'B'
  out[2] = 2;
  out[3] = (frame.leadOff ? FLAG_LEAD_OFF : 0) | (ecg ? FLAG_ECG : 0) | (frame.charging ? FLAG_CHARGING : 0);
  out.writeUInt32BE(frame.seq, 4);
  out.writeUInt32BE(Math.floor(frame.ts / 0x1_0000_0000), 8);
  out.writeUInt32BE(frame.ts % 0x1_0000_0000, 12);
  out.writeUInt16BE(frame.durMs, 16);
  out[18] = frame.hr;
  out[19] = frame.battery;
  out[20] = n;
  let at = HEADER_BYTES;
  for (const b of frame.beats) {
    out.writeUInt16BE(b.off, at);
    out.writeUInt16BE(b.rr, at + 2);
    out[at + 4] = b.cls.charCodeAt(0);
    at += BEAT_BYTES;
  }
  if (ecg) {
    out.writeUInt16BE(ecg.fs, at);
    out.writeUInt16BE(m, at + 2);
    at += ECG_HEADER_BYTES;
    for (const s of ecg.uV) {
      out.writeInt16BE(s, at);
      at += 2;
    }
  }
  out.writeUInt32BE(crc32(out.subarray(0, at)), at);
  return out;
}
