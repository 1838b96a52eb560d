/**
 * The operator alarms the dashboard API reports in /healthz (contracts/operator-alarm.ts): the
 * operator-alarm stream folded into memory, latest record per source. An infrastructure gap the
 * processor detected (telemetry not reaching it; patient signal-loss alarms held) shows there as
 * `status: "degraded"` with the alarm, and in /metrics as `pb_dashboard_operator_alarms_active`.
 * One alarm is the API's own: `processor_silent`, no processor heartbeat for PROCESSOR_SILENT_MS
 * (contracts/processor-heartbeat.ts) — a processor that is down cannot report itself, and a bus
 * that is down stops its beats reaching this API too (session 32: /healthz said "ok" through a
 * processor crash and a Kafka outage). The board shows it to clinicians (web/app.js).
 */
import { isOperatorAlarmRecord, type OperatorAlarmRecord } from '../contracts/operator-alarm.ts';
import { isProcessorHeartbeat, PROCESSOR_SILENT_MS } from '../contracts/processor-heartbeat.ts';
import { STREAMS } from '../contracts/topics.ts';
import { BusFollower, type Bus } from '../platform/bus/index.ts';
import type { Logger } from '../platform/log.ts';
import type { MetricsRegistry } from '../platform/metrics.ts';

export interface OperatorAlarmBoard {
  active(): OperatorAlarmRecord[];
  close(): Promise<void>;
}

export async function openOperatorAlarmBoard(o: { bus: Bus; logger: Logger; metrics: MetricsRegistry; now?: () => number }): Promise<OperatorAlarmBoard> {
  const now = o.now ?? Date.now;
  const latest = new Map<string, OperatorAlarmRecord>();
  const gauge = o.metrics.gauge('pb_dashboard_operator_alarms_active', 'Active operator alarms (e.g. infrastructure gaps the processor reported, no processor heartbeat)');
  const startedMs = now();
  /** When this API last folded a processor heartbeat (its own clock: no skew between hosts). */
  let processorHeardMs: number | undefined;
  let silentLogged = false;
  const follower = await BusFollower.open({
    bus: o.bus,
    stream: { name: STREAMS.operatorAlarms, partitions: 1, compacted: true },
    logger: o.logger,
    onMessage: (value) => {
      if (!isOperatorAlarmRecord(value)) return;
      latest.set(value.source, value);
    },
  });
  const beats = await BusFollower.open({
    bus: o.bus,
    stream: { name: STREAMS.processorHeartbeats, partitions: 1, compacted: true },
    logger: o.logger,
    onMessage: (value) => {
      // The replay at start folds old beats too: they count from now, so a processor that stopped
      // long ago shows as silent PROCESSOR_SILENT_MS after this API started, not at once.
      if (isProcessorHeartbeat(value)) processorHeardMs = now();
    },
  });
  /** No processor beat for PROCESSOR_SILENT_MS (counted from this API's start when none ever came). */
  const processorSilent = (): OperatorAlarmRecord | undefined => {
    const sinceMs = processorHeardMs ?? startedMs;
    const at = now();
    if (at - sinceMs <= PROCESSOR_SILENT_MS) {
      if (silentLogged) o.logger.warn('operator alarm cleared: a processor heartbeat arrived, alarms are evaluated again');
      silentLogged = false;
      return undefined;
    }
    const reason = processorHeardMs === undefined
      ? `no processor has sent a heartbeat since this API started ${Math.round((at - sinceMs) / 1000)} s ago: no alarm is being evaluated (no processor running, or the bus unreachable)`
      : `no processor heartbeat for ${Math.round((at - sinceMs) / 1000)} s: no alarm is being evaluated (the processors are down, or the bus is unreachable)`;
    if (!silentLogged) o.logger.error(`OPERATOR ALARM: ${reason}`);
    silentLogged = true;
    return { schema: 'pb.operator-alarm.v1', source: 'dashboard-api', kind: 'processor_silent', state: 'active', sinceMs, atMs: at, streams: [], streamCount: 0, gateways: [], reason };
  };
  const active = () => {
    const silent = processorSilent();
    const all = [...latest.values()].filter((r) => r.state === 'active');
    return silent ? [silent, ...all] : all;
  };
  // Silence is the absence of messages: the gauge (and the log line) follow the clock, not the stream.
  gauge.set({}, active().length);
  const collect = setInterval(() => gauge.set({}, active().length), 1000);
  collect.unref();
  return {
    active: () => {
      const list = active();
      gauge.set({}, list.length);
      return list;
    },
    close: async () => {
      clearInterval(collect);
      await Promise.all([follower.close(), beats.close()]);
    },
  };
}
