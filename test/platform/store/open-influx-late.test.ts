/**
 * A processor or API started while InfluxDB is down must start (alerting does not wait for the
 * store) and make sure of the database once InfluxDB answers; a refusal that waiting cannot mend
 * (credentials) still fails the start. Found by an operator walkthrough: `pulsebridge processor`
 * exited 1 with "Could not create InfluxDB database" while InfluxDB was stopped.
 * A stand-in for InfluxDB's /query answers here (the real one is used by the store's own tests).
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { openVitalsStore } from '../../../platform/adapters.ts';
import { createLogger } from '../../../platform/log.ts';
import { waitFor } from '../../helpers/wait.ts';

const servers: http.Server[] = [];
afterEach(async () => {
  for (const s of servers.splice(0)) await new Promise((resolve) => s.close(resolve));
});

/** An InfluxDB stand-in on `port` (0: any) that answers every query with `status`; records the queries. */
async function influxStandIn(port: number, status: number, queries: string[] = []): Promise<number> {
  const server = http.createServer((req, res) => {
    queries.push(new URL(req.url ?? '/', 'http://x').searchParams.get('q') ?? '');
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(status === 200 ? '{"results":[{"statement_id":0}]}' : '{"error":"authorization failed"}');
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  return (server.address() as AddressInfo).port;
}

const influxConfig = (port: number) => ({ store: { kind: 'influxdb' as const, url: `http://127.0.0.1:${port}`, database: 'pulsebridge' } });

describe('opening the InfluxDB vitals store', () => {
  it('starts while InfluxDB is down and creates the database once it answers', async () => {
    // A port nobody listens on (yet).
    const probe = await influxStandIn(0, 200);
    await new Promise((resolve) => servers.pop()!.close(resolve));
    const lines: string[] = [];
    const store = await openVitalsStore(influxConfig(probe), createLogger('info', {}, (l) => lines.push(l)), { retry: { firstDelayMs: 50, maxDelayMs: 100 } });
    try {
      expect(lines.join('\n')).toContain('InfluxDB cannot be reached at start');
      const queries: string[] = [];
      await influxStandIn(probe, 200, queries);
      await waitFor('the database to be made sure of', () => queries.some((q) => q.startsWith('CREATE DATABASE')) || undefined, 5000);
      await waitFor('the ready line', () => lines.some((l) => l.includes('the vitals store is ready')) || undefined, 5000);
    } finally {
      await store.close();
    }
  });

  it('fails the start when InfluxDB refuses the credentials', async () => {
    const port = await influxStandIn(0, 401);
    await expect(openVitalsStore(influxConfig(port), createLogger('error', {}, () => {}))).rejects.toThrow(/could not create InfluxDB database pulsebridge: 401/);
  });
});
