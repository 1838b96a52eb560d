/**
 * The retention step of InfluxVitalsStore.init against an InfluxDB 2.x-like stand-in: the v1 API
 * cannot change a bucket's retention (2.x answers CREATE/ALTER RETENTION POLICY with 400 "failed to
 * parse query"), so the refusal is logged clearly and the start goes on; no answer (5xx) is not a
 * refusal. The real 1.x behaviour is influx-retention.int.test.ts.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, expect, it } from 'vitest';
import { openVitalsStore } from '../../../platform/adapters.ts';
import { InfluxVitalsStore } from '../../../platform/store/index.ts';
import { createLogger } from '../../../platform/log.ts';

const servers: http.Server[] = [];
afterEach(async () => {
  for (const s of servers.splice(0)) await new Promise((resolve) => s.close(resolve));
});

/** Lists database `pulsebridge` and its bucket's policy; answers CREATE/ALTER RETENTION POLICY with `refusal`. */
async function influx2StandIn(refusal: { status: number; body: string }, queries: string[] = []): Promise<string> {
  const server = http.createServer((req, res) => {
    const q = new URL(req.url ?? '/', 'http://x').searchParams.get('q') ?? '';
    queries.push(q);
    const json = (status: number, body: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(typeof body === 'string' ? body : JSON.stringify(body));
    };
    if (q === 'SHOW DATABASES') return json(200, { results: [{ statement_id: 0, series: [{ name: 'databases', columns: ['name'], values: [['pulsebridge']] }] }] });
    if (q === 'SHOW RETENTION POLICIES') {
      return json(200, { results: [{ statement_id: 0, series: [{ columns: ['name', 'duration', 'shardGroupDuration', 'replicaN', 'default'], values: [['autogen', '0s', '168h0m0s', 1, true]] }] }] });
    }
    if (/RETENTION POLICY/.test(q)) return json(refusal.status, refusal.body);
    return json(200, { results: [{ statement_id: 0 }] });
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

it('starts when InfluxDB (2.x) refuses to set the retention, saying so and which retention is in force', async () => {
  const queries: string[] = [];
  const url = await influx2StandIn({ status: 400, body: '{"error":"failed to parse query: found ON, expected identifier at line 1, char 25"}' }, queries);
  const lines: string[] = [];
  const store = await openVitalsStore({ store: { kind: 'influxdb', url, database: 'pulsebridge', retentionDays: 400 } }, createLogger('info', {}, (l) => lines.push(l)));
  await store.close();
  expect(queries).toContain('ALTER RETENTION POLICY "autogen" ON "pulsebridge" DURATION 400d SHARD DURATION 7d');
  const warn = lines.map((l) => JSON.parse(l) as { level: string; msg: string }).find((l) => l.level === 'warn');
  expect(warn?.msg).toMatch(/InfluxDB refused to set the retention of database pulsebridge to 400 days \(HTTP 400.*\); starting anyway/);
  expect(warn?.msg).toContain('influx bucket update --retention 400d');
  expect(lines.join('\n')).toContain('vitals retention in InfluxDB: forever');
});

it('takes a statement error (HTTP 200 with "error") as a refusal too', async () => {
  const url = await influx2StandIn({ status: 200, body: '{"results":[{"statement_id":0,"error":"requires admin privilege"}]}' });
  const lines: string[] = [];
  await new InfluxVitalsStore({ url, database: 'pulsebridge', retentionDays: 30, logger: createLogger('info', {}, (l) => lines.push(l)) }).init();
  expect(lines.join('\n')).toContain('refused to set the retention of database pulsebridge to 30 days (requires admin privilege)');
});

it('fails init when InfluxDB does not answer the retention statement (5xx): not a refusal', async () => {
  const url = await influx2StandIn({ status: 503, body: '{"error":"unavailable"}' });
  await expect(new InfluxVitalsStore({ url, database: 'pulsebridge', retentionDays: 30 }).init()).rejects.toMatchObject({
    code: 'PB_STORE_WRITE_FAILED',
    message: expect.stringMatching(/could not set the retention of InfluxDB database pulsebridge: HTTP 503/),
  });
});
