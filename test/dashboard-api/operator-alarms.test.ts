/**
 * /healthz shows the operator alarms the processor publishes (dashboard-api/operator-alarms.ts):
 * an infrastructure gap turns the status to "degraded" with the alarm, and back to "ok" once
 * the processor cleared it.
 */
import { describe, expect, it } from 'vitest';
import type { OperatorAlarmRecord } from '../../contracts/operator-alarm.ts';
import { STREAMS } from '../../contracts/topics.ts';
import { InProcessBus } from '../../platform/bus/index.ts';
import { silentLogger } from '../../platform/log.ts';
import { MetricsRegistry } from '../../platform/metrics.ts';
import { openOperatorAlarmBoard } from '../../dashboard-api/operator-alarms.ts';
import { http, startFixture } from './helpers.ts';

const alarm = (state: OperatorAlarmRecord['state']): OperatorAlarmRecord => ({
  schema: 'pb.operator-alarm.v1', source: 'processor/p-1', kind: 'infrastructure_gap', state, sinceMs: 1000, atMs: 2000,
  streams: ['pat-1\ndev-1'], streamCount: 1, gateways: ['gw-1'], reason: 'no heartbeat of gateway gw-1 reached the processor',
});

describe('operator alarms in /healthz', () => {
  it('reports an active infrastructure gap as degraded, and ok again once cleared', async () => {
    const bus = new InProcessBus();
    const metrics = new MetricsRegistry();
    const board = await openOperatorAlarmBoard({ bus, logger: silentLogger, metrics });
    const fx = await startFixture({ bus, operatorAlarms: board });
    try {
      expect((await http('GET', `${fx.url}/healthz`)).body).toMatchObject({ status: 'ok' });
      const publish = (r: OperatorAlarmRecord) => bus.publish(STREAMS.operatorAlarms, [{ key: r.source, value: Buffer.from(JSON.stringify(r)) }]);
      await publish(alarm('active'));
      await new Promise((r) => setTimeout(r, 50));
      const degraded = await http('GET', `${fx.url}/healthz`);
      expect(degraded.status).toBe(200);
      expect(degraded.body).toMatchObject({ status: 'degraded', operatorAlarms: [{ kind: 'infrastructure_gap', state: 'active', gateways: ['gw-1'] }] });
      expect(metrics.gauge('pb_dashboard_operator_alarms_active', '').get()).toBe(1);
      await publish(alarm('cleared'));
      await new Promise((r) => setTimeout(r, 50));
      const ok = await http('GET', `${fx.url}/healthz`);
      expect(ok.body).toMatchObject({ status: 'ok' });
      expect((ok.body as Record<string, unknown>).operatorAlarms).toBeUndefined();
      expect(metrics.gauge('pb_dashboard_operator_alarms_active', '').get()).toBe(0);
    } finally {
      await board.close();
      await fx.close();
    }
  });
});
