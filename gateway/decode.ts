/**
 * Telemetry payload dispatch (device-protocol.md "Telemetry frame"): JSON v1 starts with `{`,
 * binary v2 with the magic "PB". Both decode into the canonical {@link TelemetryFrame}.
 */
import { FRAME_LIMITS } from '../contracts/telemetry.ts';
import type { DecodeResult } from './decode-result.ts';
import { decodeV1 } from './decode-v1.ts';
import { decodeV2 } from './decode-v2.ts';

export type { DecodeResult } from './decode-result.ts';

export interface DecodeLimits {
  maxPayloadBytes: number;
  maxClockSkewMs: number;
}

export const DEFAULT_DECODE_LIMITS: DecodeLimits = {
  maxPayloadBytes: FRAME_LIMITS.maxPayloadBytes,
  maxClockSkewMs: FRAME_LIMITS.maxClockSkewMs,
};

const JSON_OPEN_BRACE = 0x7b;
const V2_MAGIC_0 = 0x50; // 'P'
const V2_MAGIC_1 = 0x42; // 'B'

/** Decodes and validates one telemetry payload received at gateway time `nowMs`. Never throws. */
export function decodeTelemetry(payload: Buffer, nowMs: number, limits: DecodeLimits = DEFAULT_DECODE_LIMITS): DecodeResult {
  if (payload.length > limits.maxPayloadBytes) {
    return { ok: false, reason: 'payload_too_large', detail: `payload is ${payload.length} bytes, the limit is ${limits.maxPayloadBytes}` };
  }
  let result: DecodeResult;
  if (payload.length > 0 && payload[0] === JSON_OPEN_BRACE) {
    result = decodeV1(payload);
  } else if (payload.length >= 2 && payload[0] === V2_MAGIC_0 && payload[1] === V2_MAGIC_1) {
    result = decodeV2(payload);
  } else {
    result = { ok: false, reason: 'unknown_format', detail: 'payload starts with neither "{" (JSON v1) nor "PB" (binary v2)' };
  }
  if (!result.ok) return result;
  const skewMs = result.frame.ts - nowMs;
  if (Math.abs(skewMs) > limits.maxClockSkewMs) {
    return { ok: false, reason: 'clock_skew', detail: `frame ts is ${Math.round(skewMs / 1000)} s away from gateway time; the limit is ${limits.maxClockSkewMs / 1000} s` };
  }
  return result;
}
