/**
 * A component's /healthz says `degraded` while its Kafka subscriptions do not consume, and `ok`
 * again once they do (platform/bus/consumer-health.ts over KafkaBus' subscription statuses). The
 * operator walkthrough of the production topology saw the ehr-exporter's /healthz say `ok` through
 * a broker outage while its consumers crashed and started over and it exported nothing. The outage
 * is made by cutting the bus's connections (test/helpers/cuttable-kafka.ts), not by stopping the
 * shared broker. And what must not be reported: an idle subscription, and a rebalance.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { afterAll, expect, it } from 'vitest';
import { startEhrExporter } from '../../../cli/components.ts';
import { KafkaBus, watchBusConsumers, type BusSubscriptionProblem } from '../../../platform/bus/index.ts';
import { streamPartitions } from '../../../platform/adapters.ts';
import { loadConfig } from '../../../platform/config.ts';
import { silentLogger } from '../../../platform/log.ts';
import { MetricsRegistry } from '../../../platform/metrics.ts';
import { cuttableBus } from '../../helpers/cuttable-kafka.ts';
import { describeWithService, kafkaAvailable, kafkaBrokers } from '../../helpers/services.ts';
import { sleep, waitFor } from '../../helpers/wait.ts';

interface Health { status: string; busSubscriptions?: BusSubscriptionProblem[] }

await describeWithService('bus subscriptions in /healthz, on Kafka', kafkaAvailable, () => {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'pb-consumer-health-'));
  afterAll(() => fs.rmSync(dataDir, { recursive: true, force: true }));

  it('the ehr-exporter\'s /healthz says degraded, naming its streams, while its consumers cannot reach Kafka, and ok once they consume again', async () => {
    const { sockets, bus } = cuttableBus({ retries: 2, initialRetryTimeMs: 200, maxRetryTimeMs: 500 });
    await bus.ensureStreams(streamPartitions());
    const metrics = new MetricsRegistry();
    const busHealth = watchBusConsumers({ bus, logger: silentLogger, metrics });
    const config = loadConfig({ PULSEBRIDGE_DATA_DIR: dataDir, PULSEBRIDGE_FHIR_BASE_URL: 'http://127.0.0.1:1/fhir', PULSEBRIDGE_EHR_HTTP_PORT: '0' });
    const runId = randomUUID();
    const ehr = (await startEhrExporter({ config, bus, logger: silentLogger, metrics, busHealth }, { groupId: `pb-test-health-${runId}`, fromBeginning: false }))!;
    const health = async () => (await (await fetch(`${ehr.opsUrl}/healthz`)).json()) as Health;
    try {
      expect(await health()).toMatchObject({ status: 'ok' });
      // Idle past the stall bound (request timeout 2 s + fetch wait 0.5 s here): still ok.
      await sleep(4_000);
      expect((await health()).status).toBe('ok');
      const cutAt = Date.now();
      sockets.cut();
      const firstDegraded = await waitFor('/healthz degraded', async () => { const h = await health(); return h.status === 'degraded' ? Date.now() : undefined; }, 40_000);
      // Each subscription's consumer crashes on its own: wait for the alerts' (the exporter's main stream).
      const degraded = await waitFor('pb.alerts.v1 in /healthz', async () => { const h = await health(); return h.busSubscriptions?.some((s) => s.stream === 'pb.alerts.v1') ? h : undefined; }, 30_000);
      // Not before the grace (10 s from the last consumed fetch), and not much later.
      expect(firstDegraded - cutAt).toBeGreaterThanOrEqual(9_000);
      expect(firstDegraded - cutAt).toBeLessThan(25_000);
      for (const s of degraded.busSubscriptions!) {
        expect(['crashed', 'stalled']).toContain(s.state);
        expect(s.reason).toBeTruthy();
        // Since it last consumed: about when the connections were cut.
        expect(Math.abs(Date.parse(s.since) - cutAt)).toBeLessThan(5_000);
      }
      expect(metrics.render()).toMatch(/pb_bus_subscriptions_not_consuming [1-9]/);
      sockets.restore();
      await waitFor('/healthz ok again', async () => ((await health()).status === 'ok' ? true : undefined), 60_000);
      expect(await health()).not.toHaveProperty('busSubscriptions');
      expect(metrics.render()).toContain('pb_bus_subscriptions_not_consuming 0');
    } finally {
      sockets.restore();
      await ehr.stop();
      busHealth.close();
      await bus.close();
    }
  }, 150_000);

  it('does not report an idle subscription nor one whose group rebalances when another member joins', async () => {
    const stream = `pb.test.health-rebalance.${randomUUID()}`;
    const groupId = `pb-test-health-rebalance-${randomUUID()}`;
    const first = new KafkaBus({ brokers: kafkaBrokers, clientId: 'pulsebridge-test', logger: silentLogger, consumer: { sessionTimeoutMs: 10_000, heartbeatIntervalMs: 1_000 } });
    const second = new KafkaBus({ brokers: kafkaBrokers, clientId: 'pulsebridge-test', logger: silentLogger, consumer: { sessionTimeoutMs: 10_000, heartbeatIntervalMs: 1_000 } });
    await first.ensureStreams([{ name: stream, partitions: 2 }]);
    const busHealth = watchBusConsumers({ bus: first, logger: silentLogger, metrics: new MetricsRegistry() });
    const sub = await first.subscribe(stream, { groupId, fromBeginning: true, onBatch: async () => {} });
    const reported: BusSubscriptionProblem[][] = [];
    const sample = setInterval(() => {
      const p = busHealth.problems();
      if (p.length > 0) reported.push(p);
    }, 100);
    try {
      expect(sub.assignedPartitions!()).toEqual([0, 1]);
      // Idle for longer than the stall bound (request timeout 10 s + fetch wait 0.5 s): it fetches, so it consumes.
      await sleep(12_000);
      const other = await second.subscribe(stream, { groupId, fromBeginning: true, onBatch: async () => {} });
      await waitFor('the partitions shared', () => (sub.assignedPartitions!().length === 1 && other.assignedPartitions!().length === 1 ? true : undefined), 30_000);
      await sleep(2_000);
      expect(first.subscriptionStatuses().map((s) => s.state)).toEqual(['consuming']);
      expect(reported).toEqual([]);
    } finally {
      clearInterval(sample);
      busHealth.close();
      await second.close();
      await first.close();
    }
  }, 90_000);
});
