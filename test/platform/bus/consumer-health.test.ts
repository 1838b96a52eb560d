/**
 * A component's bus subscriptions in its /healthz (platform/bus/consumer-health.ts): reported once
 * one has not consumed for the grace (10 s), with its stream, since when and why, in
 * `pb_bus_subscriptions_not_consuming`, one error line and one line when it consumes again; a short
 * rebalance and an idle subscription are not reported. The operator walkthrough saw the
 * ehr-exporter's /healthz say `ok` while its Kafka consumers crash-looped through an outage. The
 * Kafka side (KafkaBus' statuses on a real broker) is kafka-consumer-health.int.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { InProcessBus, watchBusConsumers, type SubscriptionStatus } from '../../../platform/bus/index.ts';
import { MetricsRegistry } from '../../../platform/metrics.ts';
import { silentLogger, type Logger } from '../../../platform/log.ts';
import { http, startFixture } from '../../dashboard-api/helpers.ts';

function recordingLogger(): { logger: Logger; errors: { msg: string; fields?: Record<string, unknown> }[]; infos: string[] } {
  const errors: { msg: string; fields?: Record<string, unknown> }[] = [];
  const infos: string[] = [];
  const logger: Logger = { ...silentLogger, error: (msg, fields) => { errors.push({ msg, fields }); }, info: (msg) => { infos.push(msg); }, child: () => logger };
  return { logger, errors, infos };
}

const T0 = Date.parse('2026-12-07T10:00:00Z');
const consuming = (stream: string): SubscriptionStatus => ({ stream, groupId: `g-${stream}`, consuming: true, state: 'consuming', sinceMs: T0 - 60_000 });

describe('bus subscriptions in /healthz', () => {
  it('reports a subscription not consuming for 10 s with stream, since and reason, and clears when it consumes again', async () => {
    let t = T0;
    const statuses = [consuming('pb.alerts.v1'), consuming('pb.ecg-strips.v1')];
    const metrics = new MetricsRegistry();
    const log = recordingLogger();
    const health = watchBusConsumers({ bus: { subscriptionStatuses: () => statuses }, logger: log.logger, metrics, now: () => t, checkIntervalMs: 5 });
    const tick = () => new Promise((r) => setTimeout(r, 20));
    try {
      await tick();
      expect(health.problems()).toEqual([]);
      expect(metrics.render()).toContain('pb_bus_subscriptions_not_consuming 0');
      // The consumer crashed 9 s after its last answered fetch: not yet 10 s.
      statuses[0] = { ...statuses[0]!, consuming: false, state: 'crashed', sinceMs: T0 - 9_000, reason: 'its consumer crashed (Connection error: connect ECONNREFUSED 127.0.0.1:9094) and is starting over' };
      await tick();
      expect(health.problems()).toEqual([]);
      expect(log.errors).toEqual([]);
      t = T0 + 1_000;
      await tick();
      expect(health.problems()).toEqual([{ stream: 'pb.alerts.v1', groupId: 'g-pb.alerts.v1', state: 'crashed', since: '2026-12-07T09:59:51.000Z',
        reason: 'its consumer crashed (Connection error: connect ECONNREFUSED 127.0.0.1:9094) and is starting over' }]);
      expect(metrics.render()).toContain('pb_bus_subscriptions_not_consuming 1');
      expect(log.errors.map((e) => e.msg)).toEqual(['bus subscription not consuming: pb.alerts.v1 — /healthz says degraded until it consumes again']);
      // It stays reported, logged once.
      await tick();
      expect(log.errors).toHaveLength(1);
      // The dashboard API's /healthz (the processor's, gateway's and exporter's carry the same list).
      const fx = await startFixture({ busHealth: health, metrics });
      try {
        expect((await http('GET', `${fx.url}/healthz`)).body).toMatchObject({ status: 'degraded', busSubscriptions: [{ stream: 'pb.alerts.v1', state: 'crashed', since: '2026-12-07T09:59:51.000Z' }] });
        statuses[0] = { ...consuming('pb.alerts.v1'), sinceMs: t };
        await tick();
        expect(health.problems()).toEqual([]);
        expect(metrics.render()).toContain('pb_bus_subscriptions_not_consuming 0');
        expect(log.infos).toEqual(['bus subscription consuming again: pb.alerts.v1']);
        const ok = (await http('GET', `${fx.url}/healthz`)).body as Record<string, unknown>;
        expect(ok.status).toBe('ok');
        expect(ok).not.toHaveProperty('busSubscriptions');
      } finally {
        await fx.close();
      }
    } finally {
      health.close();
    }
  });

  it('does not report a rebalance that ends within the grace, nor an idle or stopped subscription', async () => {
    let t = T0;
    let statuses = [consuming('pb.telemetry.v1'), consuming('pb.criteria.v1')];
    const log = recordingLogger();
    const health = watchBusConsumers({ bus: { subscriptionStatuses: () => statuses }, logger: log.logger, metrics: new MetricsRegistry(), now: () => t, checkIntervalMs: 5 });
    const tick = () => new Promise((r) => setTimeout(r, 20));
    try {
      // A rebalance: not consuming from T0 for 4 s, joined again.
      statuses[0] = { ...statuses[0]!, consuming: false, state: 'rebalancing', sinceMs: T0, reason: 'its consumer group is rebalancing' };
      for (t = T0; t <= T0 + 4_000; t += 500) await tick();
      statuses[0] = { ...consuming('pb.telemetry.v1'), sinceMs: t };
      for (; t <= T0 + 30_000; t += 5_000) await tick();
      expect(log.errors).toEqual([]);
      // Reported, then the component stops it: not "consuming again".
      statuses[1] = { ...statuses[1]!, consuming: false, state: 'joining', sinceMs: t - 20_000, reason: 'it has not joined its consumer group yet' };
      await tick();
      expect(log.errors).toHaveLength(1);
      statuses = [statuses[0]!];
      await tick();
      expect(log.infos).toEqual([]);
      expect(health.problems()).toEqual([]);
    } finally {
      health.close();
    }
  });

  it('the in-process bus always consumes', async () => {
    const bus = new InProcessBus();
    const sub = await bus.subscribe('s', { groupId: 'g', fromBeginning: true, onBatch: async () => {} });
    expect(bus.subscriptionStatuses().map((s) => [s.stream, s.groupId, s.consuming])).toEqual([['s', 'g', true]]);
    const health = watchBusConsumers({ bus, logger: silentLogger, metrics: new MetricsRegistry(), graceMs: 0 });
    expect(health.problems()).toEqual([]);
    health.close();
    await sub.stop();
    expect(bus.subscriptionStatuses()).toEqual([]);
    await bus.close();
  });
});
