/**
 * The telemetry frame (device-protocol.md "Telemetry frame") and the canonical record the
 * gateway puts on the bus. JSON v1 and binary v2 both decode to {@link TelemetryFrame}.
 */
import { z } from 'zod';

export const BEAT_CLASSES = ['N', 'S', 'V', 'F', 'Q'] as const;
export type BeatClass = (typeof BEAT_CLASSES)[number];

/** Contract limits. Defaults of device-protocol.md "Limits"; the gateway may be configured tighter. */
export const FRAME_LIMITS = {
  minDurMs: 100,
  maxDurMs: 5000,
  maxBeats: 255,
  minFsHz: 125,
  maxFsHz: 1000,
  maxPayloadBytes: 16 * 1024,
  /** `ts` further than this from gateway time is rejected. */
  maxClockSkewMs: 24 * 60 * 60 * 1000,
} as const;

const uint8 = z.number().int().min(0).max(255);
const uint16 = z.number().int().min(0).max(0xffff);
const int16 = z.number().int().min(-0x8000).max(0x7fff);

export const beatSchema = z.object({
  off: uint16,
  rr: uint16,
  cls: z.enum(BEAT_CLASSES),
});

const INT16_MIN = -0x8000;
const INT16_MAX = 0x7fff;
const MAX_SAMPLE_ISSUES = 5;

/**
 * ECG samples: integers in −32768…32767, the same rule as `int16`, checked in one plain loop.
 * `z.array(int16)` ran a zod schema per element: at 250 samples per frame that was a third of the
 * gateway's CPU for JSON frames with ECG (BENCHMARKS.md, issue 9). Same paths in the issues
 * (`ecg.uV.<index>`), at most {@link MAX_SAMPLE_ISSUES} of them per frame.
 */
const int16Samples = z.custom<unknown[]>((v) => Array.isArray(v), { message: "expected array" }).transform((samples, ctx) => {
  let issues = 0;
  for (let i = 0; i < samples.length && issues < MAX_SAMPLE_ISSUES; i++) {
    const x = samples[i];
    if (typeof x === 'number' && Number.isInteger(x) && x >= INT16_MIN && x <= INT16_MAX) continue;
    issues++;
    const message = typeof x !== 'number' ? `expected number, received ${x === null ? 'null' : typeof x}`
      : !Number.isInteger(x) ? 'expected an integer' : `must be within ${INT16_MIN}…${INT16_MAX}`;
    ctx.addIssue({ code: 'custom', path: [i], message, input: x });
  }
  return samples as number[];
});

export const ecgSchema = z.object({
  fs: z.number().int().min(FRAME_LIMITS.minFsHz).max(FRAME_LIMITS.maxFsHz),
  uV: int16Samples,
  /**
   * Extension of JSON v1 (optional; older devices omit it, older servers ignore it): indices into
   * `uV`, ascending, of the samples at which the device's ECG front end detected a pacemaker
   * pulse. The processor's QRS detector blanks them and labels the beats they evoke as paced
   * (processor/detectors/qrs-detector.ts). At most one per sample, ≤ 255 per frame.
   */
  pace: z.array(uint16).max(FRAME_LIMITS.maxBeats).nullish(),
});

/** JSON v1 frame. Unknown extra fields are ignored (zod strips them). */
export const telemetryV1Schema = z
  .object({
    v: z.literal(1),
    seq: z.number().int().min(0).max(0xffffffff),
    ts: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER),
    durMs: z.number().int().min(FRAME_LIMITS.minDurMs).max(FRAME_LIMITS.maxDurMs),
    hr: uint8,
    battery: uint8.refine((b) => b <= 100 || b === 255, 'battery must be 0–100 or 255 (unknown)'),
    leadOff: z.boolean(),
    beats: z.array(beatSchema).max(FRAME_LIMITS.maxBeats),
    /**
     * `null` is read as absent (the decoder drops it): the contract says `ecg` may be absent, and
     * many firmware JSON serialisers write an unset optional as null — rejecting it lost the whole
     * frame, beats included (firmware walk, 2026-12-07). The same for `ecg.pace`.
     */
    ecg: ecgSchema.nullish(),
  })
  .superRefine((f, ctx) => {
    let prevOff = -1;
    f.beats.forEach((b, i) => {
      if (b.off >= f.durMs) ctx.addIssue({ code: 'custom', path: ['beats', i, 'off'], message: `off ${b.off} must be < durMs ${f.durMs}` });
      if (b.off < prevOff) ctx.addIssue({ code: 'custom', path: ['beats', i, 'off'], message: 'beats must be in time order' });
      prevOff = b.off;
    });
    if (f.ecg) {
      const expected = Math.floor((f.ecg.fs * f.durMs) / 1000);
      if (f.ecg.uV.length !== expected) {
        ctx.addIssue({ code: 'custom', path: ['ecg', 'uV'], message: `expected ${expected} samples (fs × durMs / 1000), got ${f.ecg.uV.length}` });
      }
      let prev = -1;
      f.ecg.pace?.forEach((i, k) => {
        if (i >= f.ecg!.uV.length) ctx.addIssue({ code: 'custom', path: ['ecg', 'pace', k], message: `pace ${i} must be a sample index < ${f.ecg!.uV.length}` });
        else if (i <= prev) ctx.addIssue({ code: 'custom', path: ['ecg', 'pace', k], message: 'pace indices must be ascending' });
        prev = i;
      });
    }
  });

export type Beat = z.infer<typeof beatSchema>;

/** A decoded, validated frame, independent of its wire format. */
export interface TelemetryFrame {
  seq: number;
  ts: number;
  durMs: number;
  hr: number;
  battery: number;
  leadOff: boolean;
  charging?: boolean;
  beats: Beat[];
  /** `pace`: JSON v1 only (binary v2 has no field for it; its reserved flag bits must stay 0). */
  ecg?: { fs: number; uV: number[]; pace?: number[] };
}

/** What the gateway publishes on the telemetry stream (JSON, keyed by patient id). */
export interface TelemetryRecord {
  schema: 'pb.telemetry.v1';
  deviceId: string;
  patientId: string;
  /** Wire format the device used. */
  format: 'json-v1' | 'binary-v2';
  /** Gateway wall-clock receive time, ms since epoch. */
  receivedAt: number;
  frame: TelemetryFrame;
}

/**
 * What lands on the dead-letter stream (`pb.deadletter.v1`, JSON, keyed by device id):
 * device-protocol.md "Limits", last bullet. Read back by `pulsebridge deadletter`
 * (platform/dead-letters.ts, which also fills in `source` for records written without it).
 *
 * Producers: the gateway (rejected MQTT messages: `topic` is the MQTT topic), the processor
 * (records on `pb.telemetry.v1` it cannot read) and the EHR exporter (alert snapshots it cannot
 * export). Every field added after the first version is optional, so older records still parse.
 */
export interface DeadLetterRecord {
  schema: 'pb.deadletter.v1';
  deviceId: string;
  /** The MQTT topic the message arrived on (gateway), or the bus stream it was read from. */
  topic: string;
  /** Stable machine-readable reason code, e.g. `invalid_json`, `schema`, `clock_skew`. */
  reason: string;
  /** Human-readable detail (which field, which rule). */
  detail: string;
  /** The raw payload, or only its first bytes when `payloadTruncated` (never more than the payload limit). */
  payloadBase64: string;
  receivedAt: number;
  /** Which component rejected it; absent in older records (then derived from `topic`). */
  source?: DeadLetterSource;
  /**
   * Bus stream a replay re-publishes the payload to, with `key` as the partitioning key (processor
   * and EHR records). Absent for gateway records: a replay runs them through the gateway's checks
   * again (decode at the original receive time, patient assignment) into `pb.telemetry.v1`.
   */
  stream?: string;
  key?: string;
  /** Size of the whole payload as announced by the sender, when only a prefix is kept. */
  payloadBytes?: number;
  /** True when `payloadBase64` holds only a prefix (such a record cannot be replayed). */
  payloadTruncated?: boolean;
  /** A structured error from the receiving system, e.g. a FHIR OperationOutcome (EHR exporter). */
  outcome?: unknown;
}

export type DeadLetterSource = 'gateway' | 'processor' | 'ehr-exporter';
