/**
 * The operator alarms the dashboard API reports in /healthz (contracts/operator-alarm.ts): the
 * operator-alarm stream folded into memory, latest record per source. An infrastructure gap the
 * processor detected (telemetry not reaching it; patient signal-loss alarms held) shows there as
 * `status: "degraded"` with the alarm, and in /metrics as `pb_dashboard_operator_alarms_active`.
 */
import { isOperatorAlarmRecord, type OperatorAlarmRecord } from '../contracts/operator-alarm.ts';
import { STREAMS } from '../contracts/topics.ts';
import { BusFollower, type Bus } from '../platform/bus/index.ts';
import type { Logger } from '../platform/log.ts';
import type { MetricsRegistry } from '../platform/metrics.ts';

export interface OperatorAlarmBoard {
  active(): OperatorAlarmRecord[];
  close(): Promise<void>;
}

export async function openOperatorAlarmBoard(o: { bus: Bus; logger: Logger; metrics: MetricsRegistry }): Promise<OperatorAlarmBoard> {
  const latest = new Map<string, OperatorAlarmRecord>();
  const gauge = o.metrics.gauge('pb_dashboard_operator_alarms_active', 'Active operator alarms (e.g. infrastructure gaps the processor reported)');
  gauge.set({}, 0);
  const follower = await BusFollower.open({
    bus: o.bus,
    stream: { name: STREAMS.operatorAlarms, partitions: 1, compacted: true },
    logger: o.logger,
    onMessage: (value) => {
      if (!isOperatorAlarmRecord(value)) return;
      latest.set(value.source, value);
      gauge.set({}, [...latest.values()].filter((r) => r.state === 'active').length);
    },
  });
  return {
    active: () => [...latest.values()].filter((r) => r.state === 'active'),
    close: () => follower.close(),
  };
}
