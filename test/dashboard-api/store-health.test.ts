/**
 * /healthz reports a vitals store that cannot serve reads (dashboard-api/store-health.ts). Found by
 * the operator walkthrough of session 32: through an InfluxDB outage the API's /healthz said `ok`
 * while every trend and ECG-strip request failed.
 */
import { createServer } from 'node:net';
import { describe, expect, it } from 'vitest';
import { MetricsRegistry } from '../../platform/metrics.ts';
import { silentLogger, type Logger } from '../../platform/log.ts';
import { InfluxVitalsStore } from '../../platform/store/index.ts';
import { watchStoreHealth } from '../../dashboard-api/store-health.ts';
import { http, startFixture } from './helpers.ts';

const until = async (cond: () => boolean, timeoutMs = 5000): Promise<void> => {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 10));
  }
};

/** A logger that keeps the messages of error and info lines. */
function recordingLogger(): { logger: Logger; errors: string[]; infos: string[] } {
  const errors: string[] = [];
  const infos: string[] = [];
  const logger: Logger = { ...silentLogger, error: (msg: string) => { errors.push(msg); }, info: (msg: string) => { infos.push(msg); }, child: () => logger };
  return { logger, errors, infos };
}

describe('the vitals store in /healthz', () => {
  it('says degraded with the reason after two failed probes, and ok again once the store answers', async () => {
    let answer: 'ok' | 'fail' = 'ok';
    let probes = 0;
    const store = { ping: async () => { probes += 1; if (answer === 'fail') throw new Error('connect ECONNREFUSED 127.0.0.1:8086'); } };
    const metrics = new MetricsRegistry();
    const log = recordingLogger();
    const health = watchStoreHealth({ store, logger: log.logger, metrics, intervalMs: 20 });
    const fx = await startFixture({ storeHealth: health, metrics });
    try {
      await until(() => probes >= 2);
      expect((await http('GET', `${fx.url}/healthz`)).body).toMatchObject({ status: 'ok' });

      answer = 'fail';
      await until(() => health.problem() !== undefined);
      const degraded = await http('GET', `${fx.url}/healthz`);
      expect(degraded.status).toBe(200);
      expect(degraded.body).toMatchObject({ status: 'degraded', vitalsStore: { status: 'unreachable', reason: 'connect ECONNREFUSED 127.0.0.1:8086' } });
      expect(Date.parse((degraded.body as { vitalsStore: { since: string } }).vitalsStore.since)).not.toBeNaN();
      expect(metrics.gauge('pb_dashboard_vitals_store_unreachable', '').get()).toBe(1);
      // One error line for the whole outage, not one per probe.
      const reportedAt = probes;
      await until(() => probes >= reportedAt + 3);
      expect(log.errors).toHaveLength(1);
      expect(log.errors[0]).toMatch(/trends and ECG strips/);

      answer = 'ok';
      await until(() => health.problem() === undefined);
      const ok = await http('GET', `${fx.url}/healthz`);
      expect(ok.body).toMatchObject({ status: 'ok' });
      expect((ok.body as Record<string, unknown>).vitalsStore).toBeUndefined();
      expect(metrics.gauge('pb_dashboard_vitals_store_unreachable', '').get()).toBe(0);
      expect(log.infos.filter((m) => m.includes('answers again'))).toHaveLength(1);
    } finally {
      health.close();
      await fx.close();
    }
  });

  it('does not report failures that do not come twice in a row (one slow answer should not page anyone)', async () => {
    let probes = 0;
    const health = watchStoreHealth({ store: { ping: async () => { probes += 1; if (probes % 2 === 0) throw new Error('timeout'); } }, logger: silentLogger, metrics: new MetricsRegistry(), intervalMs: 5 });
    try {
      await until(() => probes >= 12);
      expect(health.problem()).toBeUndefined();
    } finally {
      health.close();
    }
  });

  it('counts a probe that never answers as failed', async () => {
    const health = watchStoreHealth({ store: { ping: () => new Promise<void>(() => {}) }, logger: silentLogger, metrics: new MetricsRegistry(), intervalMs: 10, timeoutMs: 30 });
    try {
      await until(() => health.problem() !== undefined);
      expect(health.problem()).toMatchObject({ status: 'unreachable', reason: 'no answer in 30 ms' });
    } finally {
      health.close();
    }
  });

  it('has nothing to probe on a store without ping (embedded SQLite)', async () => {
    const health = watchStoreHealth({ store: {}, logger: silentLogger, metrics: new MetricsRegistry(), intervalMs: 5 });
    await new Promise((r) => setTimeout(r, 50));
    expect(health.problem()).toBeUndefined();
    health.close();
  });

  it('InfluxVitalsStore.ping fails with a reason that names the database when nothing listens', async () => {
    // A port that was free a moment ago: connection refused, as when InfluxDB is down.
    const port = await new Promise<number>((resolve) => {
      const srv = createServer().listen(0, '127.0.0.1', () => {
        const p = (srv.address() as { port: number }).port;
        srv.close(() => resolve(p));
      });
    });
    const store = new InfluxVitalsStore({ url: `http://127.0.0.1:${port}`, database: 'pulsebridge', timeoutMs: 2000 });
    await expect(store.ping()).rejects.toThrow(/InfluxDB does not answer a read of database pulsebridge/);
  });
});
