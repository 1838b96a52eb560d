/**
 * JSON v1 telemetry frames (device-protocol.md "v1: JSON"): parse and validate with the shared
 * zod schema. Never throws: returns the frame or a reasoned rejection.
 */
import { telemetryV1Schema, type TelemetryFrame } from '../contracts/telemetry.ts';
import type { DecodeResult } from './decode-result.ts';
import { describeZodIssues } from '../platform/zod-issues.ts';

export function decodeV1(payload: Buffer): DecodeResult {
  let json: unknown;
  try {
    json = JSON.parse(payload.toString('utf8'));
  } catch (err) {
    return { ok: false, reason: 'invalid_json', detail: `payload is not valid JSON: ${(err as Error).message}` };
  }
  if (typeof json === 'object' && json !== null && 'v' in json && (json as { v: unknown }).v !== 1) {
    return { ok: false, reason: 'unsupported_version', detail: `JSON frame version ${JSON.stringify((json as { v: unknown }).v)} is not supported (v must be 1)` };
  }
  const parsed = telemetryV1Schema.safeParse(json);
  if (!parsed.success) {
    const detail = describeZodIssues(parsed.error, 5);
    return { ok: false, reason: 'schema', detail };
  }
  const { v: _v, ecg, ...rest } = parsed.data;
  // An optional field sent as null is absent (schema comment): the frame carries no key for it.
  const frame: TelemetryFrame = ecg ? { ...rest, ecg: withoutNullPace(ecg) } : rest;
  return { ok: true, format: 'json-v1', frame };
}

function withoutNullPace<E extends { pace?: number[] | null }>(ecg: E): E & { pace?: number[] } {
  const { pace, ...samples } = ecg;
  return (pace ? { ...samples, pace } : samples) as E & { pace?: number[] };
}
