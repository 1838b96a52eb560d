import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, expect, it } from 'vitest';
import { InfluxVitalsStore } from '../../../platform/store/index.ts';

/**
 * A loopback HTTP server that records requests and answers like InfluxDB 1.x, to check what the
 * store puts on the wire (auth, paths, line protocol). Behaviour against a real InfluxDB is in
 * vitals-store-influx.int.test.ts.
 */
interface Recorded {
  method: string;
  path: string;
  params: Record<string, string>;
  authorization: string | undefined;
  body: string;
}
const servers: http.Server[] = [];
afterEach(async () => {
  for (const s of servers.splice(0)) await new Promise<void>((r) => s.close(() => r()));
});

async function recordingInflux(): Promise<{ url: string; requests: Recorded[] }> {
  const requests: Recorded[] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const url = new URL(req.url ?? '/', 'http://x');
      requests.push({
        method: req.method ?? '',
        path: url.pathname,
        params: Object.fromEntries(url.searchParams),
        authorization: req.headers.authorization,
        body: Buffer.concat(chunks).toString('utf8'),
      });
      if (url.pathname === '/write') {
        res.writeHead(204).end();
      } else {
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ results: [{ statement_id: 0 }] }));
      }
    });
  });
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, requests };
}

const T0 = Date.UTC(2025, 0, 15, 8, 0, 0);

it('sends a token as "Authorization: Token" and writes escaped line protocol in ns precision: the device time in ms, the frame seq below it', async () => {
  const influx = await recordingInflux();
  const store = new InfluxVitalsStore({ url: influx.url, database: 'pulsebridge', token: 's3cret' });
  await store.write({
    heartRate: [{ patientId: 'p-1', deviceId: 'dev 1', timeMs: T0, hrBpm: 72 }],
    rr: [{ patientId: 'p-1', deviceId: 'dev 1', timeMs: T0 + 800, rrMs: 800, cls: 'N', seq: 1_000_041 }],
  });
  expect(influx.requests).toEqual([
    {
      method: 'POST',
      path: '/write',
      params: { db: 'pulsebridge', precision: 'ns' },
      authorization: 'Token s3cret',
      // No seq: 0 below the ms; seq 1,000,041: 1 + 1,000,041 mod 999,999 = 43.
      body: `heart_rate,device=dev\\ 1,patient=p-1 hr_bpm=72 ${T0}000000\nrr_interval,cls=N,device=dev\\ 1,patient=p-1 rr_ms=800i ${T0 + 800}000043`,
    },
  ]);
});

it('sends a username and password as the v1 u/p parameters, on init and on queries', async () => {
  const influx = await recordingInflux();
  const store = new InfluxVitalsStore({ url: influx.url, database: 'vitals', username: 'pb', password: 'pw' });
  await store.init();
  await store.queryHeartRate('p-1', T0, T0 + 1_000);
  expect(influx.requests.map((r) => ({ method: r.method, params: r.params, authorization: r.authorization }))).toEqual([
    { method: 'GET', params: { epoch: 'ms', q: 'SHOW DATABASES', u: 'pb', p: 'pw' }, authorization: undefined },
    { method: 'POST', params: { epoch: 'ms', q: 'CREATE DATABASE "vitals"', u: 'pb', p: 'pw' }, authorization: undefined },
    {
      method: 'GET',
      params: {
        db: 'vitals',
        epoch: 'ms',
        q: `SELECT "hr_bpm", "device" FROM "heart_rate" WHERE "patient" = 'p-1' AND time >= ${T0}ms AND time < ${T0 + 1_000}ms ORDER BY time ASC`,
        u: 'pb',
        p: 'pw',
      },
      authorization: undefined,
    },
  ]);
});

// The hardened walk (session 33): a write retried through an outage logged "InfluxDB rejected a
// write … ECONNREFUSED" — nothing had rejected it, InfluxDB was not there.
it('says "could not be reached" when InfluxDB never answered a write, and "rejected" when it answered with an error', async () => {
  const point = { patientId: 'p1', deviceId: 'd1', timeMs: T0, hrBpm: 70 };
  const port = await new Promise<number>((resolve) => {
    const probe = http.createServer().listen(0, '127.0.0.1', () => {
      const p = (probe.address() as AddressInfo).port;
      probe.close(() => resolve(p));
    });
  });
  const absent = new InfluxVitalsStore({ url: `http://127.0.0.1:${port}`, database: 'pulsebridge', timeoutMs: 2000 });
  await expect(absent.write({ heartRate: [point], rr: [] })).rejects.toThrow(/^InfluxDB could not be reached for a write of 1 point\(s\)/);
  const refusing = http.createServer((_req, res) => res.writeHead(400, { 'content-type': 'application/json' }).end('{"error":"partial write: field type conflict"}'));
  servers.push(refusing);
  await new Promise<void>((r) => refusing.listen(0, '127.0.0.1', r));
  const store = new InfluxVitalsStore({ url: `http://127.0.0.1:${(refusing.address() as AddressInfo).port}`, database: 'pulsebridge' });
  await expect(store.write({ heartRate: [point], rr: [] })).rejects.toThrow(/^InfluxDB rejected a write of 1 point\(s\): HTTP 400: partial write/);
});
