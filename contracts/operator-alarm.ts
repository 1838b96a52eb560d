/**
 * Operator alarms: conditions of the infrastructure, not of a patient, that operators must see
 * (on `pb.operator-alarms.v1`, compacted, keyed by source; the latest record is the source's
 * state). Today one kind: `infrastructure_gap` — telemetry is not reaching the processor (the
 * bus, a gateway, or the processor's lag), so patient signal-loss alarms are held
 * (processor/infrastructure-gap.ts). The dashboard API shows active ones in /healthz.
 */
export interface OperatorAlarmRecord {
  schema: 'pb.operator-alarm.v1';
  /** `processor/{instance}`: one alarm per source. */
  source: string;
  kind: 'infrastructure_gap';
  state: 'active' | 'cleared';
  /** Wall clock, ms since the epoch: when the condition began, and when this record was made. */
  sinceMs: number;
  atMs: number;
  /** Streams (patient/device keys) whose silence is held, at most 50 listed; `streamCount` is the total. */
  streams: string[];
  streamCount: number;
  gateways: string[];
  reason: string;
}

export function isOperatorAlarmRecord(v: unknown): v is OperatorAlarmRecord {
  const r = v as Partial<OperatorAlarmRecord> | undefined;
  return r?.schema === 'pb.operator-alarm.v1' && typeof r.source === 'string' && (r.state === 'active' || r.state === 'cleared');
}
