/**
 * What every telemetry decoder returns: the canonical frame, or the reason it was rejected (the
 * reason and detail go to the dead-letter stream). Its own file so the dispatcher (decode.ts) and
 * the format decoders (decode-v1.ts, decode-v2.ts) can all import it without importing each other.
 */
import type { TelemetryFrame } from '../contracts/telemetry.ts';

export type DecodeResult =
  | { ok: true; format: 'json-v1' | 'binary-v2'; frame: TelemetryFrame }
  | { ok: false; reason: string; detail: string };
