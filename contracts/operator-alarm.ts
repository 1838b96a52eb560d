/**
 * Operator alarms: conditions of the infrastructure, not of a patient, that operators must see
 * (on `pb.operator-alarms.v1`, compacted, keyed by source; the latest record is the source's
 * state). On the stream one kind: `infrastructure_gap` — telemetry is not reaching the processor
 * (the bus, a gateway, or the processor's lag), so patient signal-loss alarms are held
 * (processor/infrastructure-gap.ts). The dashboard API adds its own `processor_silent` and
 * `clock_skew` and shows the active ones in /healthz. Readers must accept kinds they do not know
 * (more may come): `kind` and `reason` say what it is.
 */
export interface OperatorAlarmRecord {
  schema: 'pb.operator-alarm.v1';
  /** `processor/{instance}`: one alarm per source. */
  source: string;
  /**
   * `infrastructure_gap` (a processor's; see above) or `processor_silent`: no processor instance
   * has sent its heartbeat for PROCESSOR_SILENT_MS — no alarm is being evaluated (raised by the
   * dashboard API itself, contracts/processor-heartbeat.ts; never on the stream). Or `clock_skew`:
   * a processor's or gateway's wall clock (from its heartbeats) disagrees with the dashboard API's
   * by more than CLOCK_SKEW_ALARM_MS (dashboard-api/operator-alarms.ts; never on the stream), with
   * {@link clock}; `source` is then `dashboard-api`, one alarm per instance.
   */
  kind: 'infrastructure_gap' | 'processor_silent' | 'clock_skew';
  state: 'active' | 'cleared';
  /** Wall clock, ms since the epoch: when the condition began, and when this record was made. */
  sinceMs: number;
  atMs: number;
  /** Streams whose silence is held, as `patient (device id)` labels, at most 50 listed; `streamCount` is the total. */
  streams: string[];
  streamCount: number;
  gateways: string[];
  reason: string;
  /**
   * `clock_skew` only: whose clock, and its estimated offset from the dashboard API's clock, ms
   * (theirs minus the API's: negative = behind, so the times it writes lie in the past). Which
   * of the two is wrong cannot be told from here.
   */
  clock?: { component: 'processor' | 'gateway'; instance: string; offsetMs: number };
}

export function isOperatorAlarmRecord(v: unknown): v is OperatorAlarmRecord {
  const r = v as Partial<OperatorAlarmRecord> | undefined;
  return r?.schema === 'pb.operator-alarm.v1' && typeof r.source === 'string' && (r.state === 'active' || r.state === 'cleared');
}
