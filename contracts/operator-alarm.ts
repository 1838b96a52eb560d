/**
 * Operator alarms: conditions of the infrastructure, not of a patient, that operators must see
 * (on `pb.operator-alarms.v1`, compacted, keyed by source; the latest record is the source's
 * state). On the stream one kind: `infrastructure_gap` — telemetry is not reaching the processor
 * (the bus, a gateway, or the processor's lag), so patient signal-loss alarms are held
 * (processor/infrastructure-gap.ts). The dashboard API adds its own `processor_silent` and shows
 * the active ones in /healthz.
 */
export interface OperatorAlarmRecord {
  schema: 'pb.operator-alarm.v1';
  /** `processor/{instance}`: one alarm per source. */
  source: string;
  /**
   * `infrastructure_gap` (a processor's; see above) or `processor_silent`: no processor instance
   * has sent its heartbeat for PROCESSOR_SILENT_MS — no alarm is being evaluated (raised by the
   * dashboard API itself, contracts/processor-heartbeat.ts; never on the stream).
   */
  kind: 'infrastructure_gap' | 'processor_silent';
  state: 'active' | 'cleared';
  /** Wall clock, ms since the epoch: when the condition began, and when this record was made. */
  sinceMs: number;
  atMs: number;
  /** Streams whose silence is held, as `patient (device id)` labels, at most 50 listed; `streamCount` is the total. */
  streams: string[];
  streamCount: number;
  gateways: string[];
  reason: string;
}

export function isOperatorAlarmRecord(v: unknown): v is OperatorAlarmRecord {
  const r = v as Partial<OperatorAlarmRecord> | undefined;
  return r?.schema === 'pb.operator-alarm.v1' && typeof r.source === 'string' && (r.state === 'active' || r.state === 'cleared');
}
